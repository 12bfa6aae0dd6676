import Foundation
import Testing

/// `moto_server -H 127.0.0.1 -p 0`, its chosen port read from its first lines; stop it with `process.stop()`.
struct MotoServer {
    let process: ManagedProcess
    let endpoint: String
}

extension ExternalTool {
    static func startMoto() async throws -> MotoServer {
        let moto = try ManagedProcess(try require("moto_server"), ["-H", "127.0.0.1", "-p", "0"])
        do {
            let port: Int = try await moto.waitFor(timeout: .seconds(60)) { output in
                guard let range = output.range(of: #"Running on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) else {
                    return nil
                }
                return Int(output[range].split(separator: ":").last ?? "")
            }
            return MotoServer(process: moto, endpoint: "http://127.0.0.1:\(port)")
        } catch {
            await moto.stop()
            throw error
        }
    }
}
