// swift-tools-version:6.0
// Fuzz targets (libFuzzer, in the toolchain). Build and run: Fuzz/run.sh [SECONDS]. Not part of `swift test`;
// crashes found are minimised into FailCases/, which LannerRulesTests replays.
import PackageDescription

let fuzz: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-parse-as-library"])]
let link: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]

let package = Package(
    name: "LannerFuzz",
    dependencies: [.package(name: "Lanner", path: "..")],
    targets: [
        .target(name: "CFuzzDriver"),
        .executableTarget(name: "FuzzConditionParser", dependencies: ["CFuzzDriver", .product(name: "LannerRulesLibrary", package: "Lanner")],
                          swiftSettings: fuzz, linkerSettings: link),
        .executableTarget(name: "FuzzRuleLoader", dependencies: ["CFuzzDriver", .product(name: "LannerRulesLibrary", package: "Lanner")],
                          swiftSettings: fuzz, linkerSettings: link),
    ]
)
