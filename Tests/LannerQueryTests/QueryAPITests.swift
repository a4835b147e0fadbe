import Foundation
import Testing
import LannerCore
@testable import LannerQuery
import LannerStore

@Suite struct QueryAPITests {
    static let weird = "quote \" backslash \\ newline\nnul\u{0}tab\t émoji 🛡️ & = + % ? # * [x]"

    static func sample(id: Int64 = 7, container: Bool = true) -> StoredAlert {
        StoredAlert(id: id, timeNs: 1_796_356_623_123_456_789, host: weird, sensorID: "s-\(id)", rule: "Rule " + weird,
                    priority: .critical, source: "syscall", output: "out " + weird, tags: ["a", weird, ""],
                    fieldsJSON: #"{"proc.name":"bash","proc.pid":42,"fd.name":null,"evt.obj":{"y":[1,"]"]}}"#,
                    containerID: container ? "0123456789ab" : nil, count: 3, lastSeenNs: 1_796_356_623_999_999_999,
                    containerName: container ? weird : nil)
    }

    @Test func alertsRoundTripExactly() throws {
        let rows = [Self.sample(), Self.sample(id: 8, container: false)]
        let body = QueryAPI.listBody(rows, next: AlertPosition(timeNs: -5, id: 9))
        let answer = try QueryAPI.decode(QueryAPI.ListAnswer.self, Array(body.utf8))
        #expect(try answer.alerts.map { try $0.stored() } == rows)
        #expect(answer.next?.time_ns == -5 && answer.next?.id == 9)
        let stats = AlertStats(rows: 3, alerts: 9, byRule: [AlertCount(key: Self.weird, rows: 2, alerts: 8)],
                               byPriority: [AlertCount(key: "Critical", rows: 3, alerts: 9)], byHost: [])
        #expect(QueryAPI.stats(try QueryAPI.decode(QueryAPI.StatsAnswer.self, Array(QueryAPI.statsBody(stats).utf8))) == stats)
        var r = SensorRecord(sensorID: "id", hostname: Self.weird, sensorVersion: "1", bootID: "b", runEpoch: 3, nowNs: 11)
        r.lastSeenNs = 99
        r.kernelDrops = 5
        r.lastDropAlertNs = 42
        r.rateNs = 60_000_000_000
        r.readFailures = 6
        r.runReadFailures = 2
        let sensorsJSON = QueryAPI.sensorsBody([r])
        let sensors = try QueryAPI.decode(QueryAPI.SensorsAnswer.self, Array(sensorsJSON.utf8)).sensors.map(\.record)
        #expect(sensors == [r])
        // A collector from before read failures sends neither key: none counted.
        let older = sensorsJSON.replacingOccurrences(of: ",\"read_failures\":6,\"run_read_failures\":2", with: "")
        #expect(older != sensorsJSON)
        var none = r
        none.readFailures = 0
        none.runReadFailures = 0
        #expect(try QueryAPI.decode(QueryAPI.SensorsAnswer.self, Array(older.utf8)).sensors.map(\.record) == [none])
    }

    @Test func queryStringsCarryEveryFilterIntact() throws {
        let q = AlertQuery(since: 1, until: 9_000_000_000_000_000_000, rule: "Write below*&x=+y", minPriority: .warning,
                           host: Self.weird, container: "web 1", tag: "mitre_persistence", text: "etc/shadow shad*")
        let path = QueryAPI.statsPath(q)
        #expect(!path.contains(" ") && !path.contains("+"))
        guard case .success(let req) = QueryAPI.parseRequest(path) else { Issue.record("unparsed \(path)"); return }
        #expect(req.path == "/v1/alerts/stats")
        guard case .success(let back) = QueryAPI.query(from: req.items, allowed: []) else { Issue.record("bad \(req.items)"); return }
        #expect(back == q)
    }

    @Test(arguments: [
        ("/v1/alerts?bogus=1", "unknown parameter 'bogus'"),
        ("/v1/alerts?since=abc", "parameter 'since': 'abc' is not a whole number"),
        ("/v1/alerts?priority=loud", "parameter 'priority': 'loud' is not a priority; use one of \(Priority.spellings)"),
        ("/v1/alerts?host=", "parameter 'host' is empty"),
        ("/v1/alerts?host=a&host=b", "parameter 'host' given more than once"),
        ("/v1/alerts?host=%zz", "bad percent-encoding in 'host=%zz'"),
    ])
    func badParametersAreNamed(_ path: String, _ message: String) {
        switch QueryAPI.parseRequest(path) {
        case .failure(let e): #expect(e.description == message)
        case .success(let r):
            switch QueryAPI.query(from: r.items, allowed: []) {
            case .failure(let e): #expect(e.description == message)
            case .success(let q): Issue.record("accepted \(q)")
            }
        }
    }
}

@Suite struct OutputFormTests {
    @Test func outputFieldsTableAndJSON() throws {
        let f = try OutputFields(parsing: "id, rule,proc.name,fd.name,count,evt.obj,tags,container_name")
        var a = QueryAPITests.sample()
        a.rule = "Shell\tin\ncontainer"
        a.tags = ["a", "b"]
        a.containerName = "web"
        var b = QueryAPITests.sample(id: 12, container: false)
        b.rule = "R"
        b.tags = []
        b.fieldsJSON = "{}"
        #expect(f.table([a, b]) == """
            ID  RULE                  PROC.NAME  FD.NAME  COUNT  EVT.OBJ        TAGS  CONTAINER_NAME
            7   Shell\\tin\\ncontainer  bash       <NA>     3      {"y":[1,"]"]}  a,b   web
            12  R                     <NA>       <NA>     3      <NA>                 host

            """)
        a = QueryAPITests.sample()
        let lines = f.jsonLines([a]).split(separator: "\n")
        #expect(lines.count == 1)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(o["id"] as? Int == 7 && o["proc.name"] as? String == "bash" && o["count"] as? Int == 3)
        #expect(o["fd.name"] is NSNull)
        #expect((o["evt.obj"] as? [String: Any])?["y"] != nil)
        #expect(o["tags"] as? [String] == ["a", QueryAPITests.weird, ""])
        // Keys in the order asked for.
        #expect(lines[0].hasPrefix("{\"id\":7,\"rule\":"))
    }

    @Test(arguments: [
        ("id,,rule", "has an empty name; separate names with commas, e.g. id,time,rule,proc.name"),
        ("id,rul", "names 'rul', which is neither an alert field (did you mean 'rule'?) nor an output field like proc.name; alert fields: "
            + OutputFields.columns.joined(separator: ", ")),
        ("proc.", "names 'proc.', which is neither an alert field nor an output field like proc.name; alert fields: "
            + OutputFields.columns.joined(separator: ", ")),
    ])
    func badOutputFields(_ list: String, _ message: String) {
        #expect(throws: OutputFields.BadFields.self) { try OutputFields(parsing: list) }
        do { _ = try OutputFields(parsing: list) } catch { #expect(error.description == message) }
    }

    @Test func detailShowsEveryField() {
        var a = QueryAPITests.sample()
        a.host = "web-1"
        a.rule = "Read sensitive file"
        a.output = "file=/etc/shadow\nsecond line"
        a.containerName = "web"
        a.tags = ["filesystem", "mitre"]
        #expect(QueryText.detail(a) == """
            id:             7
            rule:           Read sensitive file
            priority:       Critical
            time:           2026-12-04T03:57:03.123456789Z
            last seen:      2026-12-04T03:57:03.999999999Z
            count:          3 (identical alerts folded into this one)
            host:           web-1
            sensor:         s-7
            source:         syscall
            container id:   0123456789ab
            container name: web
            tags:           filesystem, mitre
            output:         file=/etc/shadow\\nsecond line
            output fields:
              evt.obj    {"y":[1,"]"]}
              fd.name    <NA>
              proc.name  bash
              proc.pid   42

            """)
    }

    @Test func statsText() {
        let s = AlertStats(rows: 5, alerts: 9, byRule: [AlertCount(key: "A", rows: 3, alerts: 6), AlertCount(key: "B", rows: 2, alerts: 3)],
                           byPriority: [AlertCount(key: "Error", rows: 1, alerts: 1), AlertCount(key: "Warning", rows: 4, alerts: 8)],
                           byHost: [AlertCount(key: "h", rows: 5, alerts: 9)])
        #expect(QueryText.stats(s, window: "every stored alert", groupings: [.priority, .rule], top: 1) == """
            window:  every stored alert
            alerts:  9 in 5 stored rows (4 identical repeats folded)

            by priority:
              ALERTS  ROWS  PRIORITY
              1       1     Error
              8       4     Warning

            by rule (top 1 of 2):
              ALERTS  ROWS  RULE
              6       3     A

            """)
        #expect(QueryText.statsJSON(s, since: 0, until: nil, groupings: [.host], top: 0)
                == "{\"since\":\"1970-01-01T00:00:00.000000000Z\",\"until\":null,\"alerts\":9,\"rows\":5,\"by_host\":[{\"host\":\"h\",\"alerts\":9,\"rows\":5}]}\n")
    }
}
