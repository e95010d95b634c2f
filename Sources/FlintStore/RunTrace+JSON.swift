import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

/// The trace as runs decided before compact runs stored it (the `trace` member of `runs.legacy`,
/// migration v8-compact-runs); runs decided since keep no trace, it is rebuilt (`TraceRebuilder`).
///
/// ```json
/// {"gates":[{"detail":"...","name":"conditions","passed":true}],
///  "steps":[{"instant":1780000000,"kind":"delay","message":"..."}],
///  "zone":"Europe/Paris","once_per_key":"u-42",
///  "failed_condition":{"path":"...","op":"gte","expected":20,"seen":12.5,"explanation":"...",
///                      "location":{"file":"rules/a.yaml","line":4,"column":9}}}
/// ```
/// Empty lists and absent values are left out. `seen` is absent for a missing value and `null` for
/// an explicit null. Instants are unix seconds.
extension RunTrace {
    var storedJSON: JSONValue {
        var object: [String: JSONValue] = [:]
        if !gates.isEmpty {
            object["gates"] = .array(
                gates.map { .object(["name": .string($0.name), "passed": .bool($0.passed), "detail": .string($0.detail)]) })
        }
        if !steps.isEmpty {
            object["steps"] = .array(
                steps.map { step in
                    var o: [String: JSONValue] = ["kind": .string(step.kind.rawValue), "message": .string(step.message)]
                    if let instant = step.instant { o["instant"] = .number(instant.timeIntervalSince1970) }
                    return .object(o)
                })
        }
        if let zone { object["zone"] = .string(zone) }
        if let oncePerKey { object["once_per_key"] = .string(oncePerKey) }
        if let failure = failedCondition { object["failed_condition"] = failure.storedJSON }
        return .object(object)
    }

    /// Reads what `storedJSON` wrote. Tolerant: a missing member takes its default, and a planner
    /// step of a kind this version does not know is left out rather than failing the whole read.
    init(stored json: JSONValue) {
        let gates = (json["gates"]?.arrayValue ?? []).compactMap { g -> Gate? in
            guard let name = g["name"]?.stringValue else { return nil }
            return Gate(name: name, passed: g["passed"]?.boolValue ?? false, detail: g["detail"]?.stringValue ?? "")
        }
        let steps = (json["steps"]?.arrayValue ?? []).compactMap { s -> PlanStep? in
            guard let raw = s["kind"]?.stringValue, let kind = PlanStep.Kind(rawValue: raw) else { return nil }
            return PlanStep(
                kind: kind, message: s["message"]?.stringValue ?? "",
                instant: s["instant"]?.numberValue.map { Date(timeIntervalSince1970: $0) })
        }
        self.init(
            gates: gates, steps: steps, zone: json["zone"]?.stringValue, oncePerKey: json["once_per_key"]?.stringValue,
            failedCondition: json["failed_condition"].flatMap(ComparisonFailure.init(stored:)))
    }
}

extension ComparisonFailure {
    var storedJSON: JSONValue {
        var o: [String: JSONValue] = [
            "path": .string(path), "op": .string(op), "expected": expected, "explanation": .string(explanation),
        ]
        if let seen { o["seen"] = seen }
        if let location {
            o["location"] = .object([
                "file": .string(location.file), "line": .number(Double(location.line)), "column": .number(Double(location.column)),
            ])
        }
        return .object(o)
    }

    init?(stored json: JSONValue) {
        guard json.objectValue != nil else { return nil }
        var location: SourceLocation?
        if let l = json["location"], let file = l["file"]?.stringValue {
            location = SourceLocation(file: file, line: Int(l["line"]?.numberValue ?? 0), column: Int(l["column"]?.numberValue ?? 0))
        }
        self.init(
            path: json["path"]?.stringValue ?? "", op: json["op"]?.stringValue ?? "", expected: json["expected"] ?? .null,
            seen: json["seen"], explanation: json["explanation"]?.stringValue ?? "", location: location)
    }
}
