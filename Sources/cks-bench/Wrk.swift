import Foundation

/// One prepared HTTP request, sent by wrk as raw bytes.
struct RawRequest: Sendable {
    var target: String
    var body: String
    /// Every header line except Content-Length, in order.
    var headers: [(String, String)]
    var path = "/"

    var wire: String {
        var text = "POST \(path) HTTP/1.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        return text
    }
}

/// What wrk sends during one run.
enum WrkLoad: Sendable {
    /// The requests in rotation (split between wrk's threads).
    case rotate([RawRequest])
    /// ScheduleKeyDeletion then CancelKeyDeletion of the same key, the cancel sent only after the schedule answered.
    /// Each key: (key id, schedule request, cancel request).
    case pairs([(id: String, schedule: RawRequest, cancel: RawRequest)])
}

/// wrk's figures for one run, from the script's `done()`.
struct WrkResult: Codable, Sendable {
    var requests: Int
    var duration_us: Int
    var bytes: Int
    var non2xx: Int
    var starved: Int
    var connect_errors: Int
    var read_errors: Int
    var write_errors: Int
    var status_errors: Int
    var timeouts: Int
    var p50_us: Int
    var p90_us: Int
    var p99_us: Int
    var p999_us: Int
    var mean_us: Double
    var max_us: Int

    var requestsPerSecond: Double { Double(requests) / (Double(duration_us) / 1e6) }
    var socketErrors: Int { connect_errors + read_errors + write_errors + timeouts }
}

/// Runs wrk (closed loop, 2 threads) with the project's Lua script.
struct Wrk {
    let executable: String
    let workDirectory: URL
    var threads = 2

    /// The script: pre-built requests in rotation, non-2xx counting (with one sample body), and
    /// ScheduleKeyDeletion/CancelKeyDeletion pairs driven by the answers (a key's cancel is queued only once its
    /// schedule answered, so no connection ever races another on the same key).
    static let script = #"""
    -- cks-bench: wrk script (generated; see Sources/cks-bench/Wrk.swift)
    local threads = {}
    function setup(thread)
      table.insert(threads, thread)
      thread:set("tid", #threads)
    end

    local function push(q, v) q.t = q.t + 1; q[q.t] = v end
    local function pop(q)
      if q.h > q.t then return nil end
      local v = q[q.h]; q[q.h] = nil; q.h = q.h + 1
      return v
    end

    function init(args)
      local data = dofile(args[1])
      local nthreads = tonumber(args[2]) or 1
      non2xx, starved, errsample = 0, 0, ""
      mode = data.mode
      if mode == "pairs" then
        sched, cancel = {}, {}
        free, ready = {h = 1, t = 0}, {h = 1, t = 0}
        for i, k in ipairs(data.keys) do
          if (i - 1) % nthreads == tid - 1 then
            sched[k[1]] = k[2]; cancel[k[1]] = k[3]
            push(free, k[1])
            if fallback == nil then fallback = k[2] end
          end
        end
      else
        reqs = {}
        for i, r in ipairs(data.reqs) do
          if (i - 1) % nthreads == tid - 1 then reqs[#reqs + 1] = r end
        end
        if #reqs == 0 then reqs = data.reqs end
        idx = 0
      end
    end

    function request()
      if mode ~= "pairs" then
        idx = idx + 1
        if idx > #reqs then idx = 1 end
        return reqs[idx]
      end
      local id = pop(ready)
      if id then return cancel[id] end
      id = pop(free)
      if id then return sched[id] end
      starved = starved + 1
      return fallback
    end

    function response(status, headers, body)
      if status < 200 or status > 299 then
        non2xx = non2xx + 1
        if errsample == "" then errsample = status .. " " .. string.sub(body or "", 1, 300) end
        return
      end
      if mode == "pairs" then
        local kid = string.match(body, '"KeyId"%s*:%s*"([^"]*)"')
        if kid then
          kid = string.match(kid, "([^/]+)$")
          if string.find(body, '"DeletionDate"', 1, true) then push(ready, kid) else push(free, kid) end
        end
      end
    end

    function done(summary, latency, requests)
      local n, st, sample = 0, 0, ""
      for _, t in ipairs(threads) do
        n = n + (t:get("non2xx") or 0)
        st = st + (t:get("starved") or 0)
        local s = t:get("errsample")
        if s and s ~= "" and sample == "" then sample = s end
      end
      local e = summary.errors
      io.write(string.format('CKSBENCH {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"starved":%d,' ..
        '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
        '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d}\n',
        summary.requests, summary.duration, summary.bytes, n, st, e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
        latency.mean, latency.max))
      if sample ~= "" then io.write("CKSBENCH-ERROR " .. (string.gsub(sample, "[\r\n]", " ")) .. "\n") end
    end
    """#

    /// A Lua string literal of `text` (raw requests hold CR LF, which long brackets would rewrite).
    static func luaQuote(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\\(scalar.value)"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Writes the load as a Lua data file wrk's threads load in `init`.
    func writeData(_ load: WrkLoad, name: String) throws -> URL {
        var text = "return {\n"
        switch load {
        case .rotate(let requests):
            text += "mode = \"rotate\",\nreqs = {\n"
            for r in requests { text += Self.luaQuote(r.wire) + ",\n" }
            text += "}\n"
        case .pairs(let keys):
            text += "mode = \"pairs\",\nkeys = {\n"
            for k in keys {
                text += "{\(Self.luaQuote(k.id)), \(Self.luaQuote(k.schedule.wire)), \(Self.luaQuote(k.cancel.wire))},\n"
            }
            text += "}\n"
        }
        text += "}\n"
        let url = workDirectory.appendingPathComponent("\(name).lua")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// One closed-loop run against http://127.0.0.1:port/. `serverPid` is sampled for CPU use.
    /// With `tls`, wrk speaks HTTPS (it does not check the certificate).
    func run(port: Int, connections: Int, seconds: Double, load: WrkLoad, name: String,
             serverPid: Int32?, tls: Bool = false) throws -> RunMeasure {
        let scriptURL = workDirectory.appendingPathComponent("cks-bench.lua")
        if !FileManager.default.fileExists(atPath: scriptURL.path) {
            try Self.script.write(to: scriptURL, atomically: true, encoding: .utf8)
        }
        let data = try writeData(load, name: name)
        let t = min(threads, connections)
        let opens0 = Host.tcpActiveOpens()
        let cpu0 = serverPid.map { Host.cpuSeconds(pid: $0) } ?? 0
        let started = Date()
        let (status, output) = try Host.capture(executable, [
            "-t\(t)", "-c\(connections)", "-d\(Self.durationArgument(seconds))", "--timeout", "30s",
            "-s", scriptURL.path, "\(tls ? "https" : "http")://127.0.0.1:\(port)/", "--", data.path, "\(t)",
        ], errorLog: workDirectory.appendingPathComponent("\(name).wrk.err"))
        let wall = Date().timeIntervalSince(started)
        let cpu1 = serverPid.map { Host.cpuSeconds(pid: $0) } ?? 0
        let opens1 = Host.tcpActiveOpens()
        try? FileManager.default.removeItem(at: data)
        guard status == 0, let line = output.split(separator: "\n").first(where: { $0.hasPrefix("CKSBENCH {") }) else {
            let err = (try? String(contentsOf: workDirectory.appendingPathComponent("\(name).wrk.err"), encoding: .utf8)) ?? ""
            throw BenchError("wrk failed (status \(status)): \(output.suffix(600)) \(err.suffix(600))")
        }
        let result = try JSONDecoder().decode(WrkResult.self, from: Data(line.dropFirst("CKSBENCH ".count).utf8))
        let sample = output.split(separator: "\n").first { $0.hasPrefix("CKSBENCH-ERROR ") }
            .map { String($0.dropFirst("CKSBENCH-ERROR ".count)) }
        let seconds = Double(result.duration_us) / 1e6
        return RunMeasure(wrk: result, serverCores: serverPid == nil ? nil : (cpu1 - cpu0) / max(seconds, wall),
                          newConnectionsPerRequest: Double(max(0, opens1 - opens0)) / Double(max(1, result.requests)),
                          errorSample: sample)
    }

    static func durationArgument(_ seconds: Double) -> String {
        "\(max(1, Int(seconds.rounded())))s"
    }
}

/// One run as measured: wrk's figures plus what the harness sampled around it.
struct RunMeasure: Codable, Sendable {
    var wrk: WrkResult
    /// Server CPU seconds per wall second during the run (process and direct children).
    var serverCores: Double?
    /// TCP connections opened per request (machine-wide counter, so other traffic adds noise).
    var newConnectionsPerRequest: Double
    var errorSample: String?
}
