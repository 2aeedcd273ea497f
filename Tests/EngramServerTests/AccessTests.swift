import Engram
import EngramServer
import Foundation
import Testing

@Suite("Socket API: the TCP token and endpoint")
struct AccessTests {
    static func tempDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-access-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("a token is made once (0600, 64 hex digits) and read back the same; a file others may read or one without a token is refused")
    func tokenFile() throws {
        let dir = try Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("engramd.token").path
        let token = try AccessToken.loadOrCreate(at: path)
        #expect(token.count == 64 && token.allSatisfy(\.isHexDigit))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        #expect(try AccessToken.loadOrCreate(at: path) == token)
        #expect(try AccessToken.loadOrCreate(at: dir.appendingPathComponent("other").path) != token)
        chmod(path, 0o644)
        #expect { try AccessToken.loadOrCreate(at: path) } throws: { ($0 as? EngramError)?.code == .permissionDenied && "\($0)".contains("mode 644") }
        chmod(path, 0o600)
        try Data("short\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try AccessToken.loadOrCreate(at: path) } throws: { ($0 as? EngramError)?.code == .failedPrecondition }
    }

    @Test("Bearer and the exact token only")
    func admits() {
        let token = String(repeating: "ab", count: 32)
        #expect(AccessToken.admits("Bearer " + token, token: token))
        #expect(!AccessToken.admits(token, token: token))
        #expect(!AccessToken.admits("Bearer " + token.dropLast(), token: token))
        #expect(!AccessToken.admits("Bearer " + token + "0", token: token))
        #expect(!AccessToken.admits("bearer " + token, token: token))
        #expect(!AccessToken.admits(nil, token: token))
        // Per method: Health/Check is open to all; without a token asked, every call runs.
        #expect(AccessToken.admits(.healthCheck, authorization: nil, token: token))
        #expect(!AccessToken.admits(.memoryQuery, authorization: nil, token: token))
        #expect(AccessToken.admits(.memoryQuery, authorization: "Bearer " + token, token: token))
        #expect(AccessToken.admits(.memoryQuery, authorization: nil, token: nil))
    }

    @Test("TCP: none unless configured; loopback without TLS; another address only with TLS or allow_insecure_tcp; a bad address named")
    func endpoint() throws {
        let dir = try Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var settings = ServerSettings()
        #expect(try SocketServer.tcpEndpoint(settings, directory: dir) == nil)
        settings.tcp = "127.0.0.1:7878"
        #expect(try SocketServer.tcpEndpoint(settings, directory: dir)?.description == "tcp 127.0.0.1:7878")
        settings.tcp = "0.0.0.0:7878"
        #expect { try SocketServer.tcpEndpoint(settings, directory: dir) } throws: {
            ($0 as? EngramError)?.code == .failedPrecondition && "\($0)".contains("allow_insecure_tcp")
        }
        settings.allowInsecureTCP = true
        #expect(try SocketServer.tcpEndpoint(settings, directory: dir)?.description == "tcp 0.0.0.0:7878")
        #expect(try TCPAddress(parsing: "[::1]:80") == TCPAddress(parsing: "[::1]:80") && (try TCPAddress(parsing: "[::1]:80")).isLoopback)
        for bad in ["7878", "host:", "host:70000", ":80"] {
            #expect { try TCPAddress(parsing: bad) } throws: { ($0 as? EngramError)?.code == .invalidArgument }
        }
    }

    @Test("gRPC on another address only with TLS or allow_insecure_tcp; /metrics only on loopback (settings and listener); a token file that cannot be made is named")
    func otherListeners() throws {
        let dir = try Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var settings = ServerSettings()
        settings.grpc = "0.0.0.0:7879"
        #expect { try GRPCListener.address(settings, directory: dir) } throws: {
            ($0 as? EngramError)?.code == .failedPrecondition && "\($0)".contains("[server] grpc") && "\($0)".contains("allow_insecure_tcp")
        }
        settings.allowInsecureTCP = true
        guard case .tcp(let address, let tls, let token)? = try GRPCListener.address(settings, directory: dir) else {
            Issue.record("no TCP gRPC address")
            return
        }
        let written = try AccessToken.loadOrCreate(at: dir.appendingPathComponent("engramd.token").path)
        #expect(address.description == "0.0.0.0:7879" && tls == nil && token == written)

        #expect { try ServerSettings(SettingsDocument(parsing: "[server]\nmetrics = \"0.0.0.0:9464\"\n")) } throws: {
            ($0 as? EngramError)?.code == .invalidArgument && "\($0)".contains("metrics must be a loopback address")
        }
        #expect(try ServerSettings(SettingsDocument(parsing: "[server]\nmetrics = \"127.0.0.1:9464\"\n")).metrics == "127.0.0.1:9464")
        #expect { try MetricsServer(address: TCPAddress(parsing: "10.0.0.1:9464"), logger: Logger(label: "test")) { "" } } throws: {
            ($0 as? EngramError)?.code == .failedPrecondition && "\($0)".contains("loopback")
        }

        settings.tcp = "127.0.0.1:7878"
        settings.tokenFile = dir.appendingPathComponent("missing/engramd.token").path
        #expect { try SocketServer.tcpEndpoint(settings, directory: dir) } throws: {
            ($0 as? EngramError)?.code == .permissionDenied && "\($0)".contains("cannot create the access token file") && "\($0)".contains("missing/engramd.token")
        }
    }
}
