import ArgumentParser
import Foundation

/// Time-zone options shared by commands that plan sends.
struct ZoneOptions: ParsableArguments {
    @Option(name: .customLong("default-zone"), help: "default_time_zone: the zone for users whose zone is unknown (env FLINT_DEFAULT_TIME_ZONE, default UTC).")
    var defaultZone: String?

    @Option(name: .customLong("company-zone"), help: "braze.company_time_zone: Braze's company zone (env BRAZE_COMPANY_TIME_ZONE, default: the default zone).")
    var companyZone: String?

    func zones() throws -> (default: TimeZone, company: TimeZone?) {
        let env = ProcessInfo.processInfo.environment
        let defaultName = defaultZone ?? env["FLINT_DEFAULT_TIME_ZONE"] ?? "UTC"
        guard let d = TimeZone(identifier: defaultName) else {
            throw ValidationError("default zone '\(defaultName)' is not an IANA time zone (e.g. Europe/Paris)")
        }
        var company: TimeZone?
        if let name = companyZone ?? env["BRAZE_COMPANY_TIME_ZONE"] {
            guard let c = TimeZone(identifier: name) else {
                throw ValidationError("company zone '\(name)' is not an IANA time zone (e.g. America/New_York)")
            }
            company = c
        }
        return (d, company)
    }
}
