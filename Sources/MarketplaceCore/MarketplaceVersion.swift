/// The service's version, reported by `/health/detailed` and `marketplace --version`.
public enum MarketplaceVersion {
    public static let current = "0.1.0"
}
