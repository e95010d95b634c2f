import FlintPluginAPI

extension SandboxValidator {
    /// The identifiers a recipient may carry; exactly one per recipient (docs/braze.md, Recipients).
    static let identifierKeys = ["external_user_id", "user_alias", "email"]

    /// `broadcast`, `recipients` and `audience` together: who the request targets.
    func checkTargeting(_ object: [String: JSONValue], into errors: inout [String]) {
        var broadcast = false
        switch object["broadcast"] {
        case nil, .null?: break
        case .bool(let value)?: broadcast = value
        case let other?: errors.append("broadcast must be a boolean, got \(other.typeName)")
        }

        var recipients: [JSONValue]?
        var recipientsMistyped = false
        switch object["recipients"] {
        case nil, .null?: break
        case .array(let items)?: recipients = items
        case let other?:
            recipientsMistyped = true
            errors.append("recipients must be an array, got \(other.typeName)")
        }

        let audience = object["audience"].flatMap { $0.isNull ? nil : $0 }
        if let audience { checkAudience(audience, into: &errors) }

        if broadcast, recipients != nil {
            errors.append("recipients are not allowed when broadcast is true")
        }
        if !broadcast, !recipientsMistyped, recipients?.isEmpty ?? true, audience == nil {
            errors.append("no recipients: send recipients or an audience, or set broadcast to true to target the campaign's whole segment")
        }
        guard let recipients else { return }
        if recipients.count > Self.maxRecipients {
            errors.append("recipients holds \(recipients.count) objects: at most \(Self.maxRecipients) are allowed")
        }
        for (index, recipient) in recipients.enumerated() {
            checkRecipient(recipient, at: "recipients[\(index)]", into: &errors)
        }
    }

    func checkRecipient(_ value: JSONValue, at path: String, into errors: inout [String]) {
        guard case .object(let recipient) = value else {
            errors.append("\(path) must be an object, got \(value.typeName)")
            return
        }
        let present = Self.identifierKeys.filter { key in recipient[key].map { !$0.isNull } ?? false }
        if present.count != 1 {
            let found = present.isEmpty ? "none" : present.joined(separator: ", ")
            errors.append("\(path) must carry exactly one of external_user_id, user_alias, email (found \(found))")
        }
        if let id = recipient["external_user_id"], !id.isNull {
            if case .string(let text) = id {
                if text.isEmpty { errors.append("\(path).external_user_id must not be empty") }
            } else {
                errors.append("\(path).external_user_id must be a string, got \(id.typeName)")
            }
        }
        let hasAlias = recipient["user_alias"].map { !$0.isNull } ?? false
        if hasAlias, let alias = recipient["user_alias"] {
            let name = alias["alias_name"]?.stringValue
            let label = alias["alias_label"]?.stringValue
            if alias.objectValue == nil || name == nil || label == nil || name!.isEmpty || label!.isEmpty {
                errors.append("\(path).user_alias must be an object with non-empty string alias_name and alias_label")
            }
        }
        if let email = recipient["email"], !email.isNull {
            if case .string(let text) = email {
                if text.isEmpty { errors.append("\(path).email must not be empty") }
            } else {
                errors.append("\(path).email must be a string, got \(email.typeName)")
            }
            switch recipient["prioritization"] {
            case nil, .null?:
                errors.append("\(path).prioritization is required with email")
            case .array(let items)? where !items.isEmpty && items.allSatisfy({ !($0.stringValue ?? "").isEmpty }):
                break
            default:
                errors.append("\(path).prioritization must be a non-empty array of strings")
            }
        }
        var hasAttributes = false
        switch recipient["attributes"] {
        case nil, .null?: break
        case .object?: hasAttributes = true
        case let other?: errors.append("\(path).attributes must be an object, got \(other.typeName)")
        }
        switch recipient["send_to_existing_only"] {
        case nil, .null?, .bool(true)?:
            break
        case .bool(false)?:
            if hasAlias {
                errors.append("\(path).send_to_existing_only false is not allowed with user_alias")
            } else if !hasAttributes {
                errors.append("\(path).send_to_existing_only false needs attributes to create the user")
            }
        case let other?:
            errors.append("\(path).send_to_existing_only must be a boolean, got \(other.typeName)")
        }
        if let properties = recipient["trigger_properties"] {
            checkTriggerProperties(properties, at: "\(path).trigger_properties", into: &errors)
        }
    }
}
