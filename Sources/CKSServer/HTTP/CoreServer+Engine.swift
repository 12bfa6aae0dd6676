import CKSDomain
import Foundation
import Logging

extension CoreServer {
    /// Starts the core as `cks serve` runs it: opens (creating and migrating) the engine's database in the data
    /// directory, then the HTTP front before it; returns once listening. The database is closed after shutdown.
    /// - Parameter handleSignals: SIGTERM and SIGINT shut the core down gracefully (`cks serve`).
    public static func start(_ configuration: CoreConfiguration, handleSignals: Bool = false,
                             logger: Logger = Logger(label: "cks")) async throws -> CoreServer {
        try checkAddressAndCreateDataDirectory(configuration)
        let engine: KMSEngine
        do {
            engine = try KMSEngine.open(databaseAt: configuration.databaseFile, options: configuration.engine)
        } catch {
            throw CoreStartError("cannot open the database \(configuration.databaseFile.path): \(error)")
        }
        do {
            return try await start(configuration, handler: engine, handleSignals: handleSignals, logger: logger,
                                   onClose: {
                                       do { try engine.close() } catch {
                                           logger.error("closing the database failed: \(error)")
                                       }
                                   })
        } catch {
            try? engine.close()
            throw error
        }
    }
}
