import Hummingbird
import Prometheus
import ArgumentParser
import PostgresNIO
@main struct Main { static func main() {} }
