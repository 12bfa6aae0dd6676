import Foundation

/// The terminal surface with a copy of every frame in memory: the autopilot reads the screen from the copy, and a
/// recording writes each frame's changed rows from it as asciicast output.
@MainActor
public final class MirrorSurface: Surface {
    let inner: any Surface
    public let mirror: MemorySurface
    /// Frames flushed so far.
    public private(set) var frame = 0
    /// The rows of the last flushed frame.
    public private(set) var lastLines: [String] = []
    var recorder: AsciicastRecorder?
    /// The escape sequence that draws a style (from the theme in use at that moment).
    var styleSequence: (Style) -> String = { _ in "" }

    public init(inner: any Surface, asciiOnly: Bool) {
        self.inner = inner
        mirror = MemorySurface(width: inner.size.width, height: inner.size.height, asciiOnly: asciiOnly)
    }

    public var size: Size { inner.size }

    public func clear() {
        let s = inner.size
        if s != mirror.size { mirror.resize(width: s.width, height: s.height) } else { mirror.clear() }
        inner.clear()
    }

    public func put(_ row: Int, _ column: Int, _ text: String, _ style: Style) {
        mirror.put(row, column, text, style)
        inner.put(row, column, text, style)
    }

    public func flush() {
        inner.flush()
        frame += 1
        lastLines = mirror.lines
        recorder?.frame(mirror.cells, style: styleSequence)
    }
}

/// Writes an asciicast v2 recording (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header with the
/// terminal size, then one `[seconds, "o", data]` line per frame, each frame the rows that changed since the one
/// before. Access key ids are masked in what it writes.
@MainActor
public final class AsciicastRecorder {
    let handle: FileHandle
    let start = ContinuousClock.now
    private var previous: [[Cell]] = []
    /// Literal values masked wherever they show (an access key id), besides anything shaped like one.
    let secrets: [String]
    public private(set) var events = 0

    /// Creates the file (truncating it) and writes the header.
    public init(url: URL, width: Int, height: Int, title: String, environment: [String: String], secrets: [String]) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw AsciicastError(line: nil, problem: "cannot create \(url.path)")
        }
        handle = try FileHandle(forWritingTo: url)
        self.secrets = secrets.filter { $0.count >= 8 }
        var header: [String: Any] = ["version": 2, "width": width, "height": height,
                                     "timestamp": Int(Date().timeIntervalSince1970), "title": title]
        var env: [String: String] = [:]
        for k in ["TERM", "SHELL"] { if let v = environment[k] { env[k] = v } }
        if !env.isEmpty { header["env"] = env }
        let data = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        handle.write(data + Data("\n".utf8))
    }

    /// Records a frame: every row when the size changed (or at the first frame), else the rows that differ.
    func frame(_ cells: [[Cell]], style: (Style) -> String) {
        var out = ""
        let full = previous.count != cells.count || previous.first?.count != cells.first?.count
        if full { out += "\u{1B}[0m\u{1B}[?25l\u{1B}[H\u{1B}[2J" }
        for (r, row) in cells.enumerated() where full || previous[r] != row {
            out += "\u{1B}[\(r + 1);1H" + Self.encode(mask(row), style: style) + "\u{1B}[0m"
        }
        previous = cells
        guard !out.isEmpty else { return }
        event(out)
    }

    func event(_ data: String) {
        let t = ContinuousClock.now - start
        let seconds = Double(t.components.seconds) + Double(t.components.attoseconds) / 1e18
        handle.write(Data("[\(String(format: "%.6f", seconds)), \"o\", \(Self.jsonString(data))]\n".utf8))
        events += 1
    }

    /// `text` as a JSON string: quotes, backslashes and control characters escaped, the rest as it is (UTF-8).
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for u in text.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// Ends the recording (the cursor shown again, attributes reset) and closes the file.
    public func close() {
        event("\u{1B}[0m\u{1B}[?25h")
        try? handle.close()
    }

    /// One row as text with the escape sequences of its styles (a wide character's second cell is skipped).
    static func encode(_ row: [Cell], style: (Style) -> String) -> String {
        var out = ""
        var current: Style?
        for cell in row where !cell.text.isEmpty {
            if cell.style != current {
                out += "\u{1B}[0m" + style(cell.style)
                current = cell.style
            }
            out += cell.text
        }
        return out
    }

    /// The row with access key ids masked: the configured one, and anything shaped like one (AKIA/ASIA + 16).
    func mask(_ row: [Cell]) -> [Cell] {
        var cells = row
        let texts = row.map(\.text)
        func matches(_ literal: [String], at i: Int) -> Bool {
            guard i + literal.count <= texts.count else { return false }
            return Array(texts[i..<(i + literal.count)]) == literal
        }
        var i = 0
        while i < texts.count {
            var length = 0
            for secret in secrets where matches(secret.map(String.init), at: i) { length = max(length, secret.count) }
            if length == 0, ["AKIA", "ASIA"].contains(where: { matches($0.map(String.init), at: i) }), i + 20 <= texts.count,
               texts[(i + 4)..<(i + 20)].allSatisfy({ $0.count == 1 && ($0.first!.isUppercase || $0.first!.isNumber) && $0.first!.isASCII }) {
                length = 20
            }
            if length > 0 {
                for j in (i + 4)..<(i + length) { cells[j].text = "*" }
                i += length
            } else {
                i += 1
            }
        }
        return cells
    }

    /// The SGR sequence of a resolved style (colour numbers as the theme gives them: 0-255, -1 the default).
    public static func sgr(_ resolved: ResolvedStyle) -> String {
        var codes: [String] = []
        let a = resolved.attributes
        if a.contains(.bold) { codes.append("1") }
        if a.contains(.dim) { codes.append("2") }
        if a.contains(.italic) { codes.append("3") }
        if a.contains(.underline) { codes.append("4") }
        if a.contains(.reverse) { codes.append("7") }
        if resolved.foreground >= 0 { codes.append("38;5;\(resolved.foreground)") }
        if resolved.background >= 0 { codes.append("48;5;\(resolved.background)") }
        return codes.isEmpty ? "" : "\u{1B}[" + codes.joined(separator: ";") + "m"
    }
}

/// A recording that cannot be read: the line and what is wrong.
public struct AsciicastError: Error, Sendable, CustomStringConvertible, Equatable {
    public var line: Int?
    public var problem: String
    public var description: String { (line.map { "line \($0): " } ?? "") + problem }
}

/// A JSON number as a Double (not a Boolean, not a string).
private func number(_ value: Any?) -> Double? {
    switch value {
    case is Bool: return nil
    case let i as Int: return Double(i)
    case let d as Double: return d
    case let n as NSNumber: return n.doubleValue
    default: return nil
    }
}

/// An asciicast v2 recording as read back: the header's size and the output events.
public struct Asciicast: Sendable {
    public var width: Int
    public var height: Int
    public var title: String?
    public var events: [(time: Double, type: String, data: String)]

    /// Parses a recording: a header JSON object with `version` 2 and the terminal's `width` and `height`, then one
    /// `[time, type, data]` array per line, times never going back.
    public static func parse(_ text: String) throws(AsciicastError) -> Asciicast {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first, !first.isEmpty else { throw AsciicastError(line: 1, problem: "empty: no header line") }
        guard let header = (try? JSONSerialization.jsonObject(with: Data(first.utf8))) as? [String: Any] else {
            throw AsciicastError(line: 1, problem: "the header is not a JSON object")
        }
        guard number(header["version"]) == 2 else {
            throw AsciicastError(line: 1, problem: "not asciicast version 2 (version: \(header["version"].map { "\($0)" } ?? "missing"))")
        }
        guard let w = number(header["width"]), let h = number(header["height"]), w > 0, h > 0, w == w.rounded(), h == h.rounded(),
              w < 10_000, h < 10_000 else {
            throw AsciicastError(line: 1, problem: "the header needs the terminal's width and height (positive integers)")
        }
        var cast = Asciicast(width: Int(w), height: Int(h), title: header["title"] as? String, events: [])
        var last = 0.0
        for (i, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            guard let event = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [Any], event.count == 3,
                  let time = number(event[0]), time >= 0,
                  let type = event[1] as? String, let data = event[2] as? String else {
                throw AsciicastError(line: i + 1, problem: "an event must be [time, type, data] (a number, a string, a string)")
            }
            guard ["o", "i", "m", "r"].contains(type) else {
                throw AsciicastError(line: i + 1, problem: "unknown event type '\(type)' (o, i, m or r)")
            }
            guard time >= last else { throw AsciicastError(line: i + 1, problem: "time goes back (\(time) after \(last))") }
            last = time
            cast.events.append((time, type, data))
        }
        return cast
    }
}
