import CKSDomain
import CKSPersistence
import Foundation
import Logging

extension CoreServer {
    /// Starts the core as `cks serve` (and the console's embedded core) runs it: opens the engine's database in the
    /// data directory under the directory's rules (one process at a time, private files, sealed secrets, a damaged
    /// or lost database refused), then the HTTP front before it; returns once listening. The database is closed
    /// after shutdown, which releases the data directory.
    /// - Parameter handleSignals: SIGTERM and SIGINT shut the core down gracefully (`cks serve`).
    public static func start(_ configuration: CoreConfiguration, handleSignals: Bool = false,
                             logger: Logger = Logger(label: "cks")) async throws -> CoreServer {
        try checkAddressAndCreateDataDirectory(configuration)
        let engine: KMSEngine
        do {
            engine = try KMSEngine.open(databaseAt: configuration.databaseFile, options: configuration.engine)
        } catch let error as DataDirectoryError {
            throw CoreStartError(error.message)
        } catch let error as CoreStartError {
            throw error
        } catch {
            throw CoreStartError("cannot open the database \(configuration.databaseFile.path): \(error)")
        }
        for notice in engine.notices { logger.notice("\(configuration.dataDirectory.path): \(notice)") }
        engine.startHealthChecks { message in logger.warning("\(message)") }
        Task.detached(priority: .utility) {
            if case .damaged(let findings) = await engine.integrityChecked() {
                let shown = findings.prefix(3).joined(separator: "; ")
                logger.critical("\(configuration.databaseFile.path) is damaged (\(shown)): every change is refused from now on. Stop the core and start it again for what to do.")
            }
        }
        if engine.isReadOnly {
            logger.warning("serving \(configuration.databaseFile.path) read-only, without the integrity check (--skip-integrity-check): every change is refused")
        }
        do {
            let server = try await start(configuration, handler: engine, handleSignals: handleSignals, logger: logger,
                                         onClose: {
                                             do { try engine.close() } catch {
                                                 logger.error("closing the database failed: \(error)")
                                             }
                                         })
            engine.recordEndpoint(server.endpoint.absoluteString)
            return server
        } catch {
            try? engine.close()
            throw error
        }
    }
}
