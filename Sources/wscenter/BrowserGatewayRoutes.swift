import FleetGateway
import Hummingbird
import WebUI

/// The browser side on a gateway: the admin console at `/ui/` and `/client.js`. The console
/// is public; what it shows comes from the event API, which asks for the `TOKEN`.
struct BrowserGatewayRoutes: GatewayRoutes {
    func addRoutes(to router: Router<BasicRequestContext>, gateway: GatewayService) {
        BrowserRoutes.addClient(to: router)
        BrowserRoutes.addConsole(to: router)
    }
}
