import Foundation
import Hummingbird
import Reports
import Tracking
import TransferKit

/// The dashboard's routes: `/` (served models and the runs of the tracking database), `/runs/{id}` (curves,
/// confusion matrices, facts), `/compare?a=ID&b=ID` (two runs side by side, ``Reports/RunReports``), `/predict`
/// (upload an image and see the top classes and the Grad-CAM heat map). Pages come from ``Reports/DashboardHTML``.
struct Dashboard: Sendable {
    let registry: ServingRegistry
    let runDatabase: URL?

    func addRoutes(to router: Router<BasicRequestContext>) {
        let dashboard = self
        router.get("/") { _, _ -> Response in try await dashboard.overview() }
        router.get("predict") { _, _ -> Response in
            let models = await dashboard.registry.models
            return Response.html(DashboardHTML.predict(models: models.map { (name: $0.name, modality: $0.modality) }))
        }
        router.get("runs/:id") { _, context -> Response in
            let raw = try context.parameters.require("id")
            guard let id = RunID(raw) else { throw ServingError(.badRequest, "bad_run_id", "run id '\(raw)' is not a whole number") }
            let store = try dashboard.store()
            let detail: RunDetail
            do { detail = try store.detail(id) } catch { throw ServingError(.notFound, "unknown_run", "\(error)") }
            return Response.html(DashboardHTML.run(detail, report: Self.report(for: detail.run)))
        }
        router.get("compare") { request, _ -> Response in
            let q = request.uri.queryParameters
            var ids: [RunID] = []
            for key in ["a", "b"] {
                let raw = q[Substring(key)].map(String.init) ?? ""
                guard let id = RunID(raw.trimmingCharacters(in: .whitespaces)) else {
                    throw ServingError(.badRequest, "bad_run_id", "compare needs run ids a and b (received \(key)='\(raw)')")
                }
                ids.append(id)
            }
            let store = try dashboard.store()
            do { return Response.html(RunReports.comparisonHTML(try store.compare(ids), title: "Run \(ids[0]) vs run \(ids[1])")) } catch {
                throw ServingError(.notFound, "unknown_run", "\(error)")
            }
        }
    }

    func overview() async throws -> Response {
        let models = await registry.models
        let columns = ["name", "kind", "modality", "task", "labels", "version", "loaded (UTC)", "source"]
        let rows = models.map { [$0.name, $0.kind, $0.modality, $0.task, String($0.labels), String($0.version), $0.loadedAt, $0.source] }
        var runs: [Run] = [], problem: String?
        do { runs = try store().list(limit: 200) } catch let e as ServingError { problem = e.message } catch { problem = "\(error)" }
        return .html(DashboardHTML.overview(modelColumns: columns, models: rows, runs: runs, database: runDatabase?.path, databaseProblem: problem))
    }

    func store() throws(ServingError) -> RunStore {
        guard let runDatabase else { throw ServingError(.notFound, "no_run_database", "this server shows no run database") }
        guard FileManager.default.fileExists(atPath: runDatabase.path) else {
            throw ServingError(.notFound, "no_run_database", "no run database at \(runDatabase.path) yet (train with tracking on to create it)")
        }
        do { return try RunStore(at: runDatabase, create: false) } catch {
            throw ServingError(.internalServerError, "run_database", error.description)
        }
    }

    /// The `metrics.json` a run's `transfer train --report DIR` wrote, when the run recorded the directory.
    static func report(for run: Run) -> ReportDocument? {
        guard let dir = run.parameters["report"],
              let data = FileManager.default.contents(atPath: URL(fileURLWithPath: dir).appendingPathComponent("metrics.json").path) else { return nil }
        return try? MetricsReport.jsonDecoder().decode(ReportDocument.self, from: data)
    }
}
