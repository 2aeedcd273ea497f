// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Engram",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "engram", targets: ["EngramCLI"]),
        .executable(name: "engramd", targets: ["engramd"]),
        .executable(name: "engram-bench-driver", targets: ["engram-bench-driver"]),
        .library(name: "Engram", targets: ["Engram"]),
        .library(name: "EngramServer", targets: ["EngramServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.70.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.0.0"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.0.0"),
    ],
    targets: [
        // Thin C/C++ shims over the system libraries.
        .target(
            name: "CFaiss",
            dependencies: ["CKernels"],
            // FAISS's HNSW header includes <omp.h>, which Debian ships only in GCC's private
            // include directory; compat/omp.h declares the part of it we need (see there).
            cxxSettings: [.headerSearchPath("compat")],
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
        // CPU kernels of the GLM engine and the embedder, with instruction-set variants
        // chosen at run time (see include/ckernels.h); C, so that each variant can carry its
        // own `target` attribute without any compiler flag.
        .target(name: "CKernels", linkerSettings: [.linkedLibrary("m")]),
        .systemLibrary(name: "CRocksDB"),
        // Snowball stemmers (Debian's libstemmer-dev) for the full-text analyser.
        .systemLibrary(name: "CStemmer"),
        .systemLibrary(name: "CBLAS"),

        // Library modules.
        .target(name: "EngramBase", dependencies: ["CKernels", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "EngramStore",
            dependencies: [
                "EngramBase", "CFaiss", "CRocksDB", "CStemmer", "CSimdJSON",
                .product(name: "Logging", package: "swift-log"), .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "HeapModule", package: "swift-collections"),
            ]
        ),
        .target(name: "EngramEmbed", dependencies: ["CBLAS", "CKernels", "EngramBase"]),
        .target(name: "EngramGLM", dependencies: ["CBLAS", "CKernels", "EngramBase"]),
        // The knowledge graph: temporal edges between entities.
        .target(name: "EngramGraph"),
        // Change logs of other databases: formats, transactions, rows to memories.
        .target(name: "EngramIngest", dependencies: ["EngramBase", "EngramStore", "CSimdJSON"]),
        // Retrieve-then-generate: the context of an answer, its prompt and its citations.
        .target(name: "EngramRAG", dependencies: ["EngramBase", "EngramGLM"]),
        .target(
            name: "Engram",
            dependencies: [
                "EngramBase", "EngramStore", "EngramEmbed", "EngramRAG", "EngramIngest", "EngramGraph", "CSimdJSON",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The socket API: one service over the facade, served as NDJSON on a Unix socket and
        // (optionally) TCP with a bearer token and TLS, and over gRPC.
        .target(
            name: "EngramServer",
            dependencies: [
                "Engram", "EngramGLM",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Executables.
        .executableTarget(
            name: "EngramCLI",
            dependencies: [
                "EngramServer",
                "Engram", "EngramEmbed", "EngramGLM",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "engramd",
            dependencies: [
                "Engram", "EngramServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "engram-bench-embed",
            dependencies: ["EngramBase", "EngramEmbed"],
            path: "Benchmarks/EmbedBench"
        ),
        .executableTarget(
            name: "engram-bench-glm",
            dependencies: ["EngramBase", "EngramGLM"],
            path: "Benchmarks/GLMBench"
        ),
        .executableTarget(
            name: "engram-bench-ask",
            dependencies: ["Engram", "EngramGLM", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/AskBench"
        ),
        .executableTarget(
            name: "engram-bench-jsonl",
            dependencies: ["Engram"],
            path: "Benchmarks/JSONLBench"
        ),
        .executableTarget(
            name: "engram-bench-store",
            dependencies: ["EngramBase", "EngramStore", "CFaiss"],
            path: "Benchmarks/StoreBench"
        ),

        .executableTarget(
            name: "engram-bench-text",
            dependencies: ["EngramBase", "EngramStore", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/TextBench"
        ),
        .executableTarget(
            name: "engram-bench-socket",
            dependencies: ["Engram"],
            path: "Benchmarks/SocketBench"
        ),
        .executableTarget(
            name: "engram-bench-driver",
            dependencies: ["Engram"],
            path: "Benchmarks/BenchDriver"
        ),

        // The socket API's decoders under libFuzzer (Tools/fuzz.sh builds it with -sanitize=fuzzer).
        .executableTarget(name: "engram-fuzz", dependencies: ["EngramServer"], path: "Tools/Fuzz"),
        .executableTarget(name: "engram-crashtest", dependencies: ["EngramBase", "EngramStore"], path: "Tools/CrashTest"),

        // Tests: one target per module.
        // Test doubles and reference rules shared by the test targets.
        .target(name: "EngramTestSupport", dependencies: ["EngramRAG"], path: "Tests/EngramTestSupport"),
        .testTarget(name: "EngramTests", dependencies: ["Engram", "EngramBase", "EngramGLM", "EngramTestSupport"]),
        .testTarget(name: "EngramStoreTests",
                    dependencies: ["EngramBase", "EngramStore", "CFaiss", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "EngramEmbedTests", dependencies: ["EngramEmbed"]),
        .testTarget(name: "EngramGLMTests", dependencies: ["EngramBase", "EngramGLM", "CKernels", "EngramTestSupport"]),
        .testTarget(name: "EngramGraphTests", dependencies: ["EngramGraph"]),
        .testTarget(name: "EngramIngestTests", dependencies: ["EngramBase", "EngramStore", "EngramIngest"]),
        .testTarget(
            name: "EngramServerTests",
            dependencies: ["EngramServer", "Engram", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "GRPCCore", package: "grpc-swift-2")],
            exclude: ["Fixtures"]  // read from the source tree through #filePath
        ),
        .testTarget(name: "EngramRAGTests", dependencies: ["EngramBase", "EngramRAG", "EngramGLM", "EngramTestSupport"]),
        .testTarget(
            name: "EngramCLITests", dependencies: ["Engram", "EngramCLI", "engramd", "engram-crashtest", "EngramTestSupport"],
            exclude: ["Fixtures"]  // read from the source tree through #filePath
        ),
    ],
    // FAISS's and simdjson's headers need C++17.
    cxxLanguageStandard: .cxx17
)
