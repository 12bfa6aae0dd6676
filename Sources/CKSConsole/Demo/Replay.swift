import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `cks replay FILE.cast`: plays an asciicast v2 recording back on the terminal at its own pace (or `speed` times
/// faster), as asciinema does: its output written as recorded, the last frame left on the screen.
public enum Replay {
    /// Plays `url`; returns the exit status (0 played, 1 unreadable, 130 interrupted).
    public static func run(_ url: URL, speed: Double, idleLimit: Double?) async -> Int32 {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            FileHandle.standardError.write(Data("cks replay: cannot read \(url.path): \(error.localizedDescription)\n".utf8))
            return 1
        }
        let cast: Asciicast
        do { cast = try Asciicast.parse(text) } catch {
            FileHandle.standardError.write(Data("cks replay: \(url.path) is not an asciicast v2 recording: \(error)\n".utf8))
            return 1
        }
        var size = winsize()
        if isatty(1) == 1, ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0,
           Int(size.ws_col) < cast.width || Int(size.ws_row) < cast.height {
            FileHandle.standardError.write(Data("cks replay: recorded at \(cast.width)x\(cast.height), this terminal is \(size.ws_col)x\(size.ws_row): enlarge it or lines will wrap\n".utf8))
        }
        // Ctrl-C stops the replay with the cursor shown and the colours reset.
        signal(SIGINT) { _ in
            let reset = "\u{1B}[0m\u{1B}[?25h\n"
            _ = reset.withCString { write(1, $0, strlen($0)) }
            _exit(130)
        }
        defer { signal(SIGINT, SIG_DFL) }
        var previous = 0.0
        for event in cast.events where event.type == "o" {
            var gap = (event.time - previous) / speed
            if let idleLimit { gap = min(gap, idleLimit) }
            previous = event.time
            if gap > 0.0005 { try? await Task.sleep(for: .milliseconds(Int(gap * 1000))) }
            guard writeAll(Array(event.data.utf8)) else { return 1 }
        }
        return 0
    }

    /// Writes every byte to stdout, waiting while the terminal is full (EAGAIN) or a signal interrupts (EINTR);
    /// false when the terminal is gone.
    static func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { usleep(2_000); continue }
            return false
        }
        return true
    }
}
