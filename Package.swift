// swift-tools-version: 6.1
// cks: a local AWS KMS custom key store service (`cks serve`) and the console that tears stores down safely.
// Dependency direction (see README, "How it is built"): CKSDomain → CKSPersistence → CKSWire → CKSServer | CKSClient;
// CKSClient → CKSTeardown; CKSServer + CKSXksProxy + CKSClient → CKSEmbedded; CKSTeardown + CKSEmbedded → CKSConsole → cks.
// The XKS proxy (`cks xks-proxy`) stands beside the core: CKSWire → CKSXksProxy → cks; the core's client of
// proxies sits between wire and server: CKSWire → CKSXksClient → CKSServer.
import PackageDescription

let package = Package(
    name: "cks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cks", targets: ["cks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Already in the graph through Hummingbird; named for NIOHTTPTypes (the core's connection guard handler).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // TLS for the XKS proxy: swift-nio-ssl is already in the graph (AsyncHTTPClient, HummingbirdTLS);
        // swift-certificates makes the self-signed certificate and checks mTLS client chains.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // Pure rules: stores, keys, states, errors, clock, the teardown planner. No I/O.
        .target(name: "CKSDomain"),
        // SQLite through GRDB: schema, migrations, durable mutations; the data directory's rules (lock, modes,
        // secrets sealed with AES-GCM under its key).
        .target(name: "CKSPersistence", dependencies: [
            "CKSDomain",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The KMS JSON 1.1 wire protocol: shapes, validation, error bodies, SigV4. Shared by server and client.
        .target(name: "CKSWire", dependencies: [
            "CKSDomain",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The core's client of real XKS proxies (spec v1.0.3 as KMS calls them): AsyncHTTPClient with swift-nio-ssl,
        // a 250 ms budget per call, and the spec's table from proxy failures to KMS exceptions and connection codes.
        .target(name: "CKSXksClient", dependencies: [
            "CKSDomain", "CKSWire",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // `cks serve`: the engine over persistence plus the Hummingbird HTTP front.
        .target(name: "CKSServer", dependencies: [
            "CKSDomain", "CKSPersistence", "CKSWire", "CKSXksClient",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // The SigV4 KMS client: typed calls, credentials, retries, pagination, bulk (bounded concurrency).
        .target(name: "CKSClient", dependencies: [
            "CKSDomain", "CKSWire",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // ncursesw through a small static-inline shim (Swift 6 cannot reach curses macros and globals directly).
        .systemLibrary(name: "CNcursesw", path: "Sources/CNcursesw"),
        // The teardown without a UI: runner, journal, service over the client, report, plan text, exit statuses,
        // `cks teardown` and the scripted verbs (`cks stores`, `cks keys`).
        .target(name: "CKSTeardown", dependencies: ["CKSDomain", "CKSWire", "CKSClient"]),
        // The core inside this process: the embedded core and its connection, the in-process transport, the demo
        // estate and its seeder, the allocator policy. The only library that imports CKSServer.
        .target(name: "CKSEmbedded", dependencies: [
            "CKSDomain", "CKSWire", "CKSClient", "CKSServer", "CKSXksClient", "CKSXksProxy",   // the demo's real proxy
            .product(name: "Logging", package: "swift-log"),   // to keep the embedded core quiet
        ]),
        // The console, UI only: models → pure renderers → widgets → screens.
        .target(name: "CKSConsole", dependencies: [
            "CKSDomain", "CKSWire", "CKSClient", "CKSTeardown", "CKSEmbedded", "CNcursesw",
        ], resources: [.copy("Demo/Scenarios")]),   // the demo autopilot's shipped scenarios
        // PKCS#11 through dlopen, with the few declarations it needs (no -dev package at build time).
        .target(name: "CPKCS11", linkerSettings: [.linkedLibrary("dl")]),
        // `cks xks-proxy`: the XKS Proxy API (spec v1.0.3) over software keys (SQLite) or a PKCS#11 token.
        .target(name: "CKSXksProxy", dependencies: [
            "CKSWire", "CKSDomain", "CPKCS11",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // The executable: argument parsing only.
        .executableTarget(name: "cks", dependencies: [
            "CKSConsole", "CKSTeardown", "CKSEmbedded", "CKSServer", "CKSClient", "CKSXksProxy", "CKSXksClient",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),   // `cks serve` logs notices and above
        ]),
        // The performance benchmark (`swift run -c release cks-bench`): wrk against the core, moto and nginx.
        .executableTarget(name: "cks-bench", dependencies: [
            "CKSDomain", "CKSPersistence", "CKSWire", "CKSClient", "CKSServer", "CKSEmbedded", "CKSConsole",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The benchmark's framework row: a Hummingbird hello world beside the core.
        .executableTarget(name: "cks-bench-hello", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        // The suites' one set of fixtures: the in-process core, the `cks serve` process, tmux, a raw HTTP client,
        // child processes, temporary directories, the built `cks`, external tools, waiting, a hand-moved clock.
        .target(name: "CKSTestSupport", dependencies: ["CKSWire", "CKSClient", "CKSEmbedded", "CKSServer"], path: "Tests/CKSTestSupport"),
        .testTarget(name: "CKSDomainTests", dependencies: ["CKSDomain"]),
        .testTarget(name: "CKSPersistenceTests", dependencies: ["CKSPersistence"]),
        .testTarget(name: "CKSWireTests", dependencies: ["CKSWire"], resources: [.copy("Vectors")]),
        .testTarget(name: "CKSServerTests", dependencies: ["CKSServer", "CKSWire", "CKSClient", "CKSTestSupport"]),
        .testTarget(name: "CKSClientTests", dependencies: [
            "CKSClient", "CKSServer", "CKSTestSupport", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "CKSConsoleTests", dependencies: [
            "CKSConsole", "CKSTeardown", "CKSEmbedded", "CKSClient", "CKSServer", "CKSTestSupport",
        ], exclude: ["Golden"]),  // the golden screens are read by path (`GoldenSupport`), not bundled
        .testTarget(name: "CKSXksProxyTests", dependencies: [
            "CKSXksProxy", "CKSWire", "CKSTestSupport", .product(name: "Logging", package: "swift-log"),
        ]),
        // The core against real proxies in process: every failure mapping, over loopback.
        .testTarget(name: "CKSXksClientTests", dependencies: [
            "CKSXksClient", "CKSServer", "CKSXksProxy", "CKSWire", "CKSDomain", "CKSPersistence", "CKSTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Suites that drive real third-party programs (aws CLI, boto3, moto, tmux) against the built `cks`.
        .testTarget(name: "CKSExternalTests", dependencies: ["cks", "CKSClient", "CKSWire", "CKSConsole", "CKSTestSupport"],
                    exclude: ["python"]),
        // Tests that attack cks: kill -9 mid-teardown, races, a fuzzer, auth, exposure, console outages, soak.
        // CI size by default; CKS_LONG=1 for the long versions.
        .testTarget(name: "CKSReliabilityTests", dependencies: [
            "cks", "CKSClient", "CKSServer", "CKSWire", "CKSDomain", "CKSTestSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
    ]
)
