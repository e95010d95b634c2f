import ArgumentParser
import FlintRules
import Foundation

/// Time-zone options shared by commands that plan sends.
struct ZoneOptions: ParsableArguments {
    @Option(name: .customLong("default-zone"), help: "default_time_zone: the zone for users whose zone is unknown (env FLINT_DEFAULT_TIME_ZONE, default UTC).")
    var defaultZone: String?

    @Option(name: .customLong("company-zone"), help: "braze.company_time_zone: Braze's company zone (env BRAZE_COMPANY_TIME_ZONE, default: the default zone).")
    var companyZone: String?

    func zones() throws -> (default: TimeZone, company: TimeZone?) {
        let env = ProcessInfo.processInfo.environment
        let (defaultName, defaultOrigin) = defaultZone.map { ($0, "--default-zone") }
            ?? env["FLINT_DEFAULT_TIME_ZONE"].map { ($0, "FLINT_DEFAULT_TIME_ZONE") } ?? ("UTC", "default zone")
        guard let d = ZoneName.resolve(defaultName) else {
            throw ValidationError("\(defaultOrigin): \(ZoneName.problem(defaultName))")
        }
        var company: TimeZone?
        if let (name, origin) = companyZone.map({ ($0, "--company-zone") }) ?? env["BRAZE_COMPANY_TIME_ZONE"].map({ ($0, "BRAZE_COMPANY_TIME_ZONE") }) {
            guard let c = ZoneName.resolve(name) else {
                throw ValidationError("\(origin): \(ZoneName.problem(name))")
            }
            company = c
        }
        return (d, company)
    }
}
