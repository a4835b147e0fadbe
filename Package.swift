// swift-tools-version:6.0
// Lanner: runtime security monitor for Linux. See docs/ARCHITECTURE.md for the module map.
import PackageDescription

/// The evaluation path avoids dynamic exclusivity checks: its state is thread-confined and accessed without
/// overlapping mutation (measured: the checks cost ~15% of per-event time; docs/BENCHMARKS.md).
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "Lanner",
    products: [
        .executable(name: "lanner-sensor", targets: ["lanner-sensor"]),
        .executable(name: "lanner-collector", targets: ["lanner-collector"]),
        .executable(name: "lanner-eventgen", targets: ["lanner-eventgen"]),
        .executable(name: "lanner-schemagen", targets: ["lanner-schemagen"]),
        .executable(name: "lanner-bench", targets: ["lanner-bench"]),
        .executable(name: "lanner-querybench", targets: ["lanner-querybench"]),
        // For Fuzz/ (a separate package that depends on this one).
        .library(name: "LannerRulesLibrary", targets: ["LannerRules"]),
    ],
    targets: [
        // C libraries from Debian, one system-library target each.
        .systemLibrary(name: "CBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // GNU/Linux calls Swift's Glibc module does not export (pipe2, posix_spawn closefrom, pidfd_open).
        .target(name: "CLannerOutputShims"),

        // Pure logic (no I/O beyond what is named).
        .target(name: "LannerCore"),                                   // priorities, JSON text, shared basics
        .target(name: "LannerWire", dependencies: ["CZstd"]),                                   // wire format: schema, codec
        .target(name: "LannerYAML", dependencies: ["CYAML"]),          // libyaml -> node tree with marks
        .target(name: "LannerRules", dependencies: ["LannerYAML", "LannerCore"], swiftSettings: hotPath),    // Falco rule language
        .target(name: "LannerSchemaGen", dependencies: ["LannerYAML"]), // proto/events.yaml -> C header + Swift
        .target(name: "LannerEnrich", dependencies: ["LannerWire", "LannerRules", "LannerCore"], swiftSettings: hotPath), // host state, field extraction

        // I/O edges.
        .target(name: "LannerStore", dependencies: ["CSQLite", "LannerCore"]),       // SQLite alert store
        .target(name: "LannerHTTP2", dependencies: ["CNGHTTP2", "LannerCore"]),      // h2c server and client over nghttp2
        .target(name: "LannerCLIKit", dependencies: ["LannerCore"]),                               // tiny command-line parser
        .target(name: "LannerSensorAgent", dependencies: ["CBPF", "LannerWire", "LannerHTTP2", "LannerCore"]),
        .target(name: "LannerOutputs",                                 // alerts to stdout, file, syslog, program, webhook
                dependencies: ["LannerStore", "LannerCore", "LannerYAML", "LannerCLIKit", "COpenSSL", "CLannerOutputShims"]),
        .target(name: "LannerQuery", dependencies: ["LannerStore", "LannerHTTP2", "LannerCore"]),   // query API, client, output forms
        .target(name: "LannerCollectorService",
                dependencies: ["LannerWire", "LannerRules", "LannerEnrich", "LannerStore", "LannerHTTP2", "LannerCore", "LannerOutputs", "LannerQuery"]),

        // Executables: wiring only.
        // The sensor runs on every host: the Swift runtime is linked in (hosts need no Swift installed) and only what
        // it uses is (its modules import FoundationEssentials, not Foundation): RSS 9.4 MiB below the shared build's.
        .executableTarget(name: "lanner-sensor", dependencies: ["LannerSensorAgent", "LannerCLIKit", "LannerCore", "LannerWire", "LannerHTTP2"],
                          linkerSettings: [.unsafeFlags(["-static-stdlib"]), .linkedLibrary("_FoundationCShims"), .linkedLibrary("_FoundationCollections")]),
        .executableTarget(name: "lanner-collector",
                          dependencies: ["LannerCollectorService", "LannerStore", "LannerRules", "LannerCLIKit", "LannerCore", "LannerEnrich", "LannerHTTP2", "LannerWire",
                                         "LannerOutputs", "LannerQuery"]),
        .executableTarget(name: "lanner-eventgen", dependencies: ["LannerCLIKit"]),
        .executableTarget(name: "lanner-schemagen", dependencies: ["LannerSchemaGen"]),
        .executableTarget(name: "lanner-bench", dependencies: ["LannerCollectorService", "LannerRules", "LannerWire", "LannerCLIKit", "LannerSensorAgent", "LannerHTTP2"]),
        .executableTarget(name: "lanner-querybench", dependencies: ["LannerStore", "LannerCore", "LannerCLIKit"]),

        // Tests: one target per module, plus end to end; LannerTestSupport builds real records for them.
        .target(name: "LannerTestSupport", dependencies: ["LannerWire", "LannerRules"], path: "Tests/LannerTestSupport"),
        .testTarget(name: "LannerCoreTests", dependencies: ["LannerCore"]),
        .testTarget(name: "LannerWireTests", dependencies: ["LannerWire"]),
        .testTarget(name: "LannerYAMLTests", dependencies: ["LannerYAML"]),
        .testTarget(name: "LannerRulesTests", dependencies: ["LannerRules", "LannerCore", "LannerYAML", "LannerTestSupport"]),
        .testTarget(name: "LannerEnrichTests", dependencies: ["LannerEnrich", "LannerWire", "LannerRules", "LannerCore", "LannerTestSupport"]),
        .testTarget(name: "LannerStoreTests", dependencies: ["LannerStore", "LannerCore"]),
        .testTarget(name: "LannerQueryTests", dependencies: ["LannerQuery", "LannerStore", "LannerCore"]),
        .testTarget(name: "LannerHTTP2Tests", dependencies: ["LannerHTTP2"]),
        .testTarget(name: "LannerCLIKitTests", dependencies: ["LannerCLIKit"]),
        .testTarget(name: "LannerSensorAgentTests", dependencies: ["LannerSensorAgent", "LannerWire", "LannerHTTP2"]),
        .testTarget(name: "LannerCollectorServiceTests",
                    dependencies: ["LannerCollectorService", "LannerWire", "LannerStore", "LannerHTTP2", "LannerRules",
                                   "LannerEnrich", "LannerCore", "LannerTestSupport", "LannerYAML", "LannerSensorAgent", "LannerQuery"]),
        .testTarget(name: "LannerOutputsTests", dependencies: ["LannerOutputs", "LannerStore", "LannerCore", "COpenSSL"]),
        .testTarget(name: "LannerSchemaTests", dependencies: ["LannerSchemaGen", "LannerWire"]),
        .testTarget(name: "LannerEndToEndTests", dependencies: ["LannerStore", "LannerHTTP2", "LannerWire", "LannerCore", "LannerTestSupport"]),
    ]
)
