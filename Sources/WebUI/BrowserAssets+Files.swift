extension PackageResources {
    /// The console's files, by the name `/ui/<name>` serves them under. SwiftPM names each
    /// embedded file after its name, so every file in `Resources/` but `client.js` is listed
    /// here (a test checks that none is missing).
    static var consoleFiles: [(String, [UInt8])] {
        [
            ("index.html", index_html),
            ("ui-api.js", ui_api_js),
            ("ui-app.js", ui_app_js),
            ("ui-apps.js", ui_apps_js),
            ("ui-auth.js", ui_auth_js),
            ("ui-chart.js", ui_chart_js),
            ("ui-console.js", ui_console_js),
            ("ui-dom.js", ui_dom_js),
            ("ui-explorer.js", ui_explorer_js),
            ("ui-fleet-data.js", ui_fleet_data_js),
            ("ui-fleet.js", ui_fleet_js),
            ("ui-log.js", ui_log_js),
            ("ui-pusher.js", ui_pusher_js),
            ("ui-router.js", ui_router_js),
            ("ui-status.js", ui_status_js),
            ("ui-store.js", ui_store_js),
            ("ui-tester.js", ui_tester_js),
            ("ui.css", ui_css),
        ]
    }
}
