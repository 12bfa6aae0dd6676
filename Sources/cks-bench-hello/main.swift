import Foundation
import Hummingbird

// The benchmark's framework row: Hummingbird alone, from the same dependency graph as the core, answering
// `POST /` with `{}` as nginx's ceiling does. What the core costs per request beyond this is its own.
// Usage: cks-bench-hello PORT
guard CommandLine.arguments.count == 2, let port = Int(CommandLine.arguments[1]), (1...65535).contains(port) else {
    FileHandle.standardError.write(Data("usage: cks-bench-hello PORT\n".utf8))
    exit(2)
}
let router = Router()
router.post("/") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/x-amz-json-1.1"],
             body: ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
