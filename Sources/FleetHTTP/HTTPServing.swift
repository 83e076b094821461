import Logging

/// Hummingbird logs every request at info: its own logger stays at notice or above.
package func frameworkLogger(_ logger: Logger) -> Logger {
    var framework = logger
    framework.logLevel = max(logger.logLevel, .notice)
    return framework
}
