import Foundation

extension Bench {
    /// 4. The console (written once the console's client backend lands).
    func console(estate: (directory: URL, storeId: String, keys: Int)) async throws {
        Host.log("4. console: not measured yet")
    }

    /// 5. The teardown through the client's bulk call (written once the client lands).
    func teardown() async throws {
        Host.log("5. teardown: not measured yet")
    }
}
