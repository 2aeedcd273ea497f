// swift-tools-version:6.0
import PackageDescription

// FAISS headers that declare search parameters for HNSW include <omp.h>, which lives in
// GCC's private include directory on Debian; `-idirafter` makes it visible without
// shadowing clang's own intrinsic headers.
let gccInclude = "/usr/lib/gcc/x86_64-linux-gnu/12/include"

let package = Package(
    name: "Engram",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "engram", targets: ["EngramCLI"]),
        .library(name: "Engram", targets: ["Engram"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Thin C/C++ shims over the system libraries.
        .target(
            name: "CFaiss",
            cxxSettings: [.unsafeFlags(["-idirafter", gccInclude, "-std=c++17"])],
            linkerSettings: [
                .linkedLibrary("faiss"), .linkedLibrary("openblas"),
                .linkedLibrary("gomp"), .linkedLibrary("m"), .linkedLibrary("stdc++"),
            ]
        ),
        // simdjson 3.0.1 (Debian's libsimdjson-dev), DOM API: parses JSON Lines records.
        .target(
            name: "CSimdJSON",
            linkerSettings: [.linkedLibrary("simdjson"), .linkedLibrary("stdc++")]
        ),
        .systemLibrary(name: "CRocksDB"),
        .systemLibrary(name: "CBLAS"),

        // Library modules.
        .target(name: "EngramBase"),
        .target(
            name: "EngramStore",
            dependencies: ["CFaiss", "CRocksDB", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "EngramEmbed", dependencies: ["CBLAS"]),
        // Haswell (AVX2, FMA, F16C) code generation for the GLM engine's SIMD kernels.
        .target(name: "EngramGLM", dependencies: ["CBLAS"], swiftSettings: [.unsafeFlags(["-target-cpu", "haswell"])]),
        .target(
            name: "Engram",
            dependencies: [
                "EngramBase", "EngramStore", "EngramEmbed", "CSimdJSON",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Executables.
        .executableTarget(
            name: "EngramCLI",
            dependencies: [
                "Engram", "EngramEmbed", "EngramGLM",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "engram-bench-embed",
            dependencies: ["EngramEmbed"],
            path: "Benchmarks/EmbedBench"
        ),
        .executableTarget(
            name: "engram-bench-glm",
            dependencies: ["EngramGLM"],
            path: "Benchmarks/GLMBench"
        ),
        .executableTarget(
            name: "engram-bench-jsonl",
            dependencies: ["Engram"],
            path: "Benchmarks/JSONLBench"
        ),
        .executableTarget(
            name: "engram-bench-store",
            dependencies: ["EngramStore", "CFaiss"],
            path: "Benchmarks/StoreBench"
        ),

        .executableTarget(name: "engram-crashtest", path: "Tools/CrashTest"),

        // Tests: one target per module.
        .testTarget(name: "EngramTests", dependencies: ["Engram", "EngramBase"]),
        .testTarget(name: "EngramStoreTests", dependencies: ["EngramStore"]),
        .testTarget(name: "EngramEmbedTests", dependencies: ["EngramEmbed"]),
        .testTarget(name: "EngramGLMTests", dependencies: ["EngramGLM"]),
        .testTarget(name: "EngramCLITests", dependencies: ["Engram", "EngramCLI", "engram-crashtest"]),
    ],
    cxxLanguageStandard: .cxx17
)
