/// Word lists for realistic-looking records: names, places in several countries, phone formats.
enum SampleData {
    static let firstNames = ["Ann", "Bill", "Chloé", "Dmitri", "Emma", "François", "Grace", "Hiro", "Ines", "Jürgen",
                             "Kofi", "Liam", "María", "Noor", "Olga", "Pedro", "Quinn", "Rosa", "Søren", "Tariq"]
    static let lastNames = ["Anderson", "Bauer", "Chen", "Dubois", "Evans", "Fernández", "García", "Hansen", "Ito", "Jones",
                            "Kowalski", "López", "Müller", "Nakamura", "O'Brien", "Pereira", "Rossi", "Smith", "Tanaka", "Van der Berg"]
    static let companyWords = ["Windsurf", "Harbor", "Summit", "Maple", "Granite", "Blue Fin", "Copper", "Northwind",
                               "Evergreen", "Atlas", "Bayside", "Redwood", "Lumen", "Pioneer", "Orchard", "Falcon"]
    static let companySuffixes = ["Shop", "Supply Co.", "GmbH", "Ltd", "Inc", "LLC", "S.A.", "B.V.", "Pty Ltd", "Club"]
    static let products = ["Concrete", "Garden Lighting", "Fountain Pump", "Design Service", "Sprinkler Heads", "Rock Fountain",
                           "Soil Bag", "Pro plan", "Starter plan", "Consulting Hour", "Pipe Fitting", "Installation"]
    static let streets = ["Ocean Dr.", "Main St", "Hauptstraße", "Rue de Rivoli", "Calle Mayor", "High Street", "Kerkstraat", "Via Roma"]

    /// (city, region, postal code, country spellings as providers send them, phone formats)
    static let places: [(city: String, region: String, postal: String, countries: [String], phones: [String])] = [
        ("Half Moon Bay", "CA", "94213", ["US", "USA", "United States", "united states of america", "U.S."],
         ["(415) 444-####", "415-555-####", "+1 415 555 ####", "415.555.####"]),
        ("Burlington", "NC", "27215", ["USA", "US"], ["(336) 222-####", "336 222 ####"]),
        ("Berlin", "BE", "10115", ["DE", "Germany", "Deutschland", "DEU"], ["030 ########", "+49 30 ########", "(030) ####-####"]),
        ("Paris", "IDF", "75001", ["FR", "France", "FRA"], ["01 ## ## ## ##", "+33 1 ## ## ## ##"]),
        ("London", "", "SW1A 1AA", ["GB", "UK", "United Kingdom", "Great Britain"], ["020 #### ####", "+44 20 #### ####"]),
        ("Madrid", "MD", "28013", ["ES", "Spain", "España"], ["91 ### ## ##", "+34 91 ### ## ##"]),
        ("Amsterdam", "NH", "1012", ["NL", "Netherlands", "Holland", "Nederland"], ["020 ### ####", "+31 20 ### ####"]),
        ("Sydney", "NSW", "2000", ["AU", "Australia"], ["(02) #### ####", "+61 2 #### ####"]),
        ("Toronto", "ON", "M5H 2N2", ["CA", "Canada"], ["(416) 555-####", "416-555-####"]),
        ("Tokyo", "13", "100-0001", ["JP", "Japan", "日本"], ["03-####-####", "+81 3-####-####"]),
    ]
    static let currencies = ["USD", "EUR", "GBP", "AUD", "CAD", "JPY"]
    static let industries = ["Apparel", "COMPUTER_SOFTWARE", "Construction", "Retail", "Hospitality", "Manufacturing"]
}
