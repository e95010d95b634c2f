import FlintRules
import Synchronization

/// The rule set in force. Replaced whole on reload: a set with errors never gets here, so the last
/// good set keeps running (docs/architecture.md, Rules).
public final class RuleBook: Sendable {
    private let current: Mutex<RuleSet>

    public init(_ rules: RuleSet = .empty) {
        current = Mutex(rules)
    }

    public var rules: RuleSet { current.withLock { $0 } }

    public func replace(with rules: RuleSet) {
        current.withLock { $0 = rules }
    }
}
