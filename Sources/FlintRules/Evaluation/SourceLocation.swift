/// Where something was written in a rule file: 1-based line and column.
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `rules/cart.yaml:12:7`, the prefix of `flint rules check` messages.
    public var description: String { "\(file):\(line):\(column)" }
}
