import FlintPluginAPI

/// YAML (or JSON) text as a JSON value, read the way rules are: keys are strings, only `true` and
/// `false` are booleans, `10:00` stays text. For configuration files.
public enum YAMLText {
    public static func json(_ text: String, file: String) -> Result<JSONValue, Diagnostic> {
        switch SourceNode.parse(text, file: file) {
        case .failure(let d): return .failure(d)
        case .success(nil): return .success(.object([:]))
        case .success(let node?): return .success(node.json)
        }
    }
}
