// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Flint",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "flint", targets: ["flint"]),
        .library(name: "FlintPluginAPI", targets: ["FlintPluginAPI"]),
        .library(name: "FlintRules", targets: ["FlintRules"]),
        .library(name: "FlintCore", targets: ["FlintCore"]),
        .library(name: "FlintStore", targets: ["FlintStore"]),
        .library(name: "FlintPostgres", targets: ["FlintPostgres"]),
        .library(name: "BrazeSandbox", targets: ["BrazeSandbox"]),
        .library(name: "FlintTesting", targets: ["FlintTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .target(
            name: "FlintPluginAPI",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FlintRules",
            dependencies: ["FlintPluginAPI", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FlintCore",
            dependencies: [
                "FlintPluginAPI", "FlintRules",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FlintStore",
            dependencies: [
                "FlintCore", "FlintPluginAPI", "FlintRules", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FlintPostgres",
            dependencies: [
                "FlintCore", "FlintPluginAPI", "FlintRules", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FlintConsole",
            dependencies: [
                "FlintCore", "FlintStore", "FlintPluginAPI", "FlintRules", "Webhook",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BrazeSandbox",
            dependencies: [
                "FlintPluginAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FlintTesting",
            dependencies: ["FlintPluginAPI", "FlintRules", "FlintCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FileInbox",
            dependencies: ["FlintPluginAPI", .product(name: "Logging", package: "swift-log")],
            path: "Plugins/FileInbox",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Webhook",
            dependencies: [
                "FlintPluginAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Plugins/Webhook",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Braze",
            dependencies: [
                "FlintPluginAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Plugins/Braze",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "flint",
            dependencies: [
                "FlintPluginAPI", "FlintRules", "FlintCore", "FlintStore", "FlintPostgres", "FlintConsole", "Webhook", "FileInbox", "Braze", "BrazeSandbox",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "FlintPluginAPITests", dependencies: ["FlintPluginAPI"], swiftSettings: swiftSettings),
        .testTarget(name: "FlintRulesTests", dependencies: ["FlintRules"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(name: "FlintCoreTests", dependencies: ["FlintCore", "FlintRules", "FlintPluginAPI", "FlintTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FlintStoreTests",
            dependencies: [
                "FlintStore", "FlintPostgres", "FlintCore", "FlintRules", "FlintPluginAPI", "FlintTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FileInboxTests",
            dependencies: ["FileInbox", "FlintPluginAPI", "FlintTesting", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WebhookTests",
            dependencies: ["Webhook", "FlintPluginAPI", .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FlintConsoleTests",
            dependencies: [
                "FlintConsole", "FlintStore", "FlintCore", "FlintRules", "FlintPluginAPI", "FlintTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BrazeSandboxTests",
            dependencies: ["BrazeSandbox", "FlintPluginAPI", .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BrazeTests",
            dependencies: [
                "Braze", "FlintPluginAPI", "FlintTesting", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "flintTests",
            dependencies: ["flint", "FlintPluginAPI", "FlintTesting", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
