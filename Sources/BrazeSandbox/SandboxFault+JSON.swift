import FlintPluginAPI

/// Faults as `POST /_sandbox/faults` takes them and `GET /_sandbox/faults` lists them:
///
/// ```json
/// {"kind": "status", "status": 504, "path": "/campaigns/trigger/schedule/create", "count": 1,
///  "create_before_fault": true, "message": "Gateway Timeout", "reset_after_seconds": 5}
/// {"kind": "latency", "ms": 250}     {"kind": "hang"}     {"kind": "drop", "count": "always"}
/// ```
///
/// `count` is a number of calls (default 1) or `"always"`; `createBeforeFault` and `latency_ms`
/// are accepted as spellings of `create_before_fault` and `ms`.
extension SandboxFault {
    /// Faults from a request body: one fault object, an array of them, or `{"faults": [...]}`.
    static func list(from body: JSONValue) -> Result<[SandboxFault], SandboxFaultError> {
        var items: [JSONValue]
        switch body {
        case .array(let array): items = array
        case .object(let object):
            if let wrapped = object["faults"] {
                guard case .array(let array) = wrapped else { return .failure(SandboxFaultError("faults must be an array")) }
                items = array
            } else {
                items = [body]
            }
        default:
            return .failure(SandboxFaultError("expected a fault object, an array of faults or {\"faults\": [...]}"))
        }
        var faults: [SandboxFault] = []
        for (index, item) in items.enumerated() {
            switch SandboxFault.parse(item) {
            case .success(let fault): faults.append(fault)
            case .failure(let error): return .failure(SandboxFaultError("faults[\(index)]: \(error.message)"))
            }
        }
        return .success(faults)
    }

    /// One fault object.
    static func parse(_ value: JSONValue) -> Result<SandboxFault, SandboxFaultError> {
        guard case .object(let object) = value else { return .failure(SandboxFaultError("a fault must be an object")) }
        let known: Set<String> = [
            "kind", "status", "ms", "latency_ms", "path", "count", "create_before_fault", "createBeforeFault", "message",
            "reset_after_seconds",
        ]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            return .failure(SandboxFaultError("unknown key \"\(unknown)\" (known: \(known.sorted().joined(separator: ", ")))"))
        }
        let kind: Kind
        switch object["kind"]?.stringValue ?? (object["status"] != nil ? "status" : nil) {
        case "status":
            guard let number = object["status"]?.numberValue, number == number.rounded(), (400...599).contains(number) else {
                return .failure(SandboxFaultError("a status fault needs \"status\": a number from 400 to 599"))
            }
            kind = .status(Int(number))
        case "latency":
            guard let ms = (object["ms"] ?? object["latency_ms"])?.numberValue, ms >= 0, ms <= 3_600_000 else {
                return .failure(SandboxFaultError("a latency fault needs \"ms\": milliseconds from 0 to 3600000"))
            }
            kind = .latency(milliseconds: Int(ms))
        case "hang": kind = .hang
        case "drop": kind = .drop
        case let other:
            return .failure(SandboxFaultError("\"kind\" must be status, latency, hang or drop (got \(other.map { "\"\($0)\"" } ?? "none"))"))
        }
        var fault = SandboxFault(kind)
        if let path = object["path"], !path.isNull {
            guard let text = path.stringValue, let endpoint = SandboxEndpoint(path: text) else {
                let paths = SandboxEndpoint.allCases.map(\.path).joined(separator: ", ")
                return .failure(SandboxFaultError("\"path\" must be one of \(paths)"))
            }
            fault.endpoint = endpoint
        }
        switch object["count"] {
        case nil: break
        case .string("always")?: fault.count = nil
        case .number(let number)? where number >= 1 && number == number.rounded() && number < 1e9: fault.count = Int(number)
        default: return .failure(SandboxFaultError("\"count\" must be a whole number >= 1 or \"always\""))
        }
        if let flag = object["create_before_fault"] ?? object["createBeforeFault"] {
            guard let value = flag.boolValue else { return .failure(SandboxFaultError("\"create_before_fault\" must be a boolean")) }
            fault.createBeforeFault = value
        }
        if let message = object["message"], !message.isNull {
            guard let text = message.stringValue else { return .failure(SandboxFaultError("\"message\" must be a string")) }
            fault.message = text
        }
        if let reset = object["reset_after_seconds"], !reset.isNull {
            guard let seconds = reset.numberValue, seconds >= 0, seconds == seconds.rounded(), seconds < 1e9 else {
                return .failure(SandboxFaultError("\"reset_after_seconds\" must be a whole number >= 0"))
            }
            fault.resetAfterSeconds = Int(seconds)
        }
        return .success(fault)
    }

    /// The fault as JSON, in the shape `parse` reads.
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "count": count.map { .number(Double($0)) } ?? "always",
            "create_before_fault": .bool(createBeforeFault),
            "path": endpoint.map { .string($0.path) } ?? .null,
        ]
        switch kind {
        case .status(let code):
            object["kind"] = "status"
            object["status"] = .number(Double(code))
            object["message"] = .string(message ?? Self.defaultMessage(for: code))
            if let resetAfterSeconds { object["reset_after_seconds"] = .number(Double(resetAfterSeconds)) }
        case .latency(let milliseconds):
            object["kind"] = "latency"
            object["ms"] = .number(Double(milliseconds))
        case .hang: object["kind"] = "hang"
        case .drop: object["kind"] = "drop"
        }
        return .object(object)
    }
}

/// Why a fault description was refused.
struct SandboxFaultError: Error, Sendable, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}
