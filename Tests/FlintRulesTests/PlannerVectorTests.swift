import Foundation
import Testing

@testable import FlintRules

@Suite("planner-vectors.json: agreement with the independent implementation")
struct PlannerVectorTests {
    @Test("all 400 vectors load, and cover sends, skips and failures")
    func vectorsLoad() throws {
        let vectors = try PlannerVector.loadAll()
        #expect(vectors.count == 400)
        let outcomes = Set(vectors.map(\.expect.outcome))
        #expect(outcomes == ["send", "skip", "fail"])
    }

    @Test("the planner agrees with every vector: outcome kind and the exact schedule object")
    func everyVector() throws {
        let vectors = try PlannerVector.loadAll()
        var failures = 0
        for (index, vector) in vectors.enumerated() {
            let plan = Planner.plan(try vector.input())
            let got: (kind: String, schedule: BrazeSchedule?)
            switch plan.outcome {
            case .send(let schedule, _): got = ("send", schedule)
            case .skip: got = ("skip", nil)
            case .fail: got = ("fail", nil)
            }
            if got.kind != vector.expect.outcome || got.schedule != vector.expect.schedule {
                failures += 1
                let expected = vector.expect.schedule.map { "\($0.json)" } ?? "-"
                let actual = got.schedule.map { "\($0.json)" } ?? "-"
                Issue.record(
                    """
                    vector #\(index): expected \(vector.expect.outcome) \(expected), planned \(got.kind) \(actual)
                      inputs: \(vector)
                      steps: \(plan.steps.map { "[\($0.kind.rawValue)] \($0.message)" }.joined(separator: " | "))
                    """)
            }
        }
        #expect(failures == 0, "\(failures) of \(vectors.count) vectors disagree")
    }
}
