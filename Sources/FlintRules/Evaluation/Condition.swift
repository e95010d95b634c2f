import FlintPluginAPI

/// A rule's `if:` tree: `all` / `any` / `not`, nested freely, over comparisons.
public indirect enum Condition: Sendable, Hashable, CustomStringConvertible {
    case all([Condition])
    case any([Condition])
    case not(Condition)
    case comparison(Comparison)

    /// `all(a gte 20, any(b eq 1, not (c exists)))`
    public var description: String {
        switch self {
        case .all(let conditions): "all(\(conditions.map(\.description).joined(separator: ", ")))"
        case .any(let conditions): "any(\(conditions.map(\.description).joined(separator: ", ")))"
        case .not(let condition): "not (\(condition))"
        case .comparison(let comparison): comparison.description
        }
    }

    /// Every comparison in the tree, depth first.
    public var comparisons: [Comparison] {
        switch self {
        case .all(let conditions), .any(let conditions): conditions.flatMap(\.comparisons)
        case .not(let condition): condition.comparisons
        case .comparison(let comparison): [comparison]
        }
    }
}

/// Whether a condition held and, when it did not, the comparison that decided it.
public struct ConditionResult: Sendable, Hashable, Codable {
    public var passed: Bool
    /// The first comparison that decided a failure, for "why did it NOT fire".
    public var failure: ComparisonFailure?

    public init(passed: Bool, failure: ComparisonFailure?) {
        self.passed = passed
        self.failure = failure
    }

    public static let passed = ConditionResult(passed: true, failure: nil)

    public static func failed(_ failure: ComparisonFailure) -> ConditionResult {
        ConditionResult(passed: false, failure: failure)
    }
}

/// Why a comparison did not hold: the path, operator, expected operand, the value seen (nil when
/// missing) and a plain-English explanation such as `properties.cart_value gte 20: saw 12.5`.
public struct ComparisonFailure: Sendable, Hashable, Codable {
    public var path: String
    public var op: String
    public var expected: JSONValue
    public var seen: JSONValue?
    public var explanation: String
    public var location: SourceLocation?

    public init(path: String, op: String, expected: JSONValue, seen: JSONValue?, explanation: String, location: SourceLocation?) {
        self.path = path
        self.op = op
        self.expected = expected
        self.seen = seen
        self.explanation = explanation
        self.location = location
    }
}

extension Condition {
    /// Evaluates against a scope. `all` of nothing holds; `any` of nothing does not. A type
    /// mismatch is a failure with an explanation, never an error.
    public func evaluate(in scope: JSONValue) -> ConditionResult {
        switch self {
        case .comparison(let comparison):
            guard let failure = comparison.failure(in: scope) else { return .passed }
            return .failed(failure)

        case .all(let conditions):
            for condition in conditions {
                let result = condition.evaluate(in: scope)
                if !result.passed { return result }
            }
            return .passed

        case .any(let conditions):
            var failures: [ComparisonFailure] = []
            for condition in conditions {
                let result = condition.evaluate(in: scope)
                if result.passed { return .passed }
                if let failure = result.failure { failures.append(failure) }
            }
            guard var first = failures.first else {
                return .failed(
                    ComparisonFailure(
                        path: "", op: "any", expected: .array([]), seen: nil,
                        explanation: "any of no conditions never holds", location: nil))
            }
            if failures.count > 1 {
                first.explanation =
                    "none of \(failures.count) alternatives held: "
                    + failures.map(\.explanation).joined(separator: "; ")
            }
            return .failed(first)

        case .not(let inner):
            guard inner.evaluate(in: scope).passed else { return .passed }
            if case .comparison(let comparison) = inner {
                return .failed(
                    ComparisonFailure(
                        path: comparison.path.description, op: "not \(comparison.op.rawValue)",
                        expected: comparison.operand, seen: comparison.path.resolve(in: scope),
                        explanation: "not (\(comparison)): it held", location: comparison.location))
            }
            return .failed(
                ComparisonFailure(
                    path: "", op: "not", expected: .null, seen: nil,
                    explanation: "not (\(inner)): it held", location: inner.comparisons.first?.location))
        }
    }
}
