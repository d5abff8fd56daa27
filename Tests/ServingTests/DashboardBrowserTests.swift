import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The dashboard in a real browser: headless Chromium loads the pages of `transfer serve`, uploads an image through
/// the predict page and reads the prediction it shows; screenshots go to `.build/serving-screenshots/`.
@Suite(.serialized, .enabled(if: ServingFixture.weightsCached && HeadlessChromium.available)) struct DashboardBrowserTests {
    @Test func chromiumUploadsAnImageThroughThePageAndSeesTheServedPrediction() async throws {
        let f = try ServingFixture.shared()
        let image = try f.testImages()[1]
        let server = try RunningServer(["--model", "fm=\(f.bundleA)", "--runs-db", f.runsDB], token: "t0ken", environment: f.env)
        defer { server.stop() }
        let api = try await server.request("POST", "/v1/models/fm/predict", body: image.data, contentType: "image/png")
        let expected = (((server.json(api.body) as? [[String: Any]])?.first?["top"] as? [[String: Any]])?.first?["label"] as? String) ?? "?"
        let shots = ServingFixture.screenshotDirectory
        let browser = try HeadlessChromium()

        // The overview lists the served model and both recorded runs; a run page shows curves and a confusion matrix.
        try browser.navigate("\(server.base)/?token=t0ken")
        let overview = try browser.evaluate("document.body.innerText") as? String ?? ""
        #expect(overview.contains("fm") && overview.contains("Runs"))
        #expect(try browser.evaluate("document.querySelectorAll('#runs tbody tr').length") as? Int == 2)
        try browser.screenshot(shots.appendingPathComponent("dashboard-overview.png"))
        let firstRun = try browser.evaluate("document.querySelector('#runs tbody tr:last-child a').getAttribute('href')") as? String ?? ""
        try browser.navigate(server.base + firstRun)
        #expect(try browser.evaluate("document.querySelectorAll('svg').length") as? Int ?? 0 >= 5)
        #expect((try browser.evaluate("document.body.innerText") as? String ?? "").contains("Test confusion matrix"))
        try browser.screenshot(shots.appendingPathComponent("dashboard-run.png"))
        try browser.navigate("\(server.base)/compare?a=1&b=2")
        #expect((try browser.evaluate("document.title") as? String ?? "").contains("Run 1 vs run 2"))
        try browser.screenshot(shots.appendingPathComponent("dashboard-compare.png"))

        // Upload through the page (the cookie set by ?token= authorises the page's own API call).
        try browser.navigate("\(server.base)/predict")
        try browser.setFiles("#file", [image.path])
        _ = try browser.evaluate("document.getElementById('submit').click()")
        let shown = try browser.waitFor("(document.querySelector('#prediction-top td.label') || {}).textContent || (document.querySelector('#error') || {}).textContent", timeout: 60) as? String
        #expect(shown == expected)
        _ = try browser.waitFor("(document.getElementById('heatmap') || {}).complete && document.getElementById('heatmap').naturalWidth > 0", timeout: 30)
        try browser.screenshot(shots.appendingPathComponent("dashboard-predict.png"))
        #expect(FileManager.default.fileExists(atPath: shots.appendingPathComponent("dashboard-predict.png").path))
        #expect(server.stop() == 0, "stderr: \(server.stderr)")
    }
}
