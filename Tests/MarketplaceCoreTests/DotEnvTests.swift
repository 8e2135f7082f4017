import MarketplaceCore
import Testing

@Suite struct DotEnvTests {
    @Test func parsesTheUsualForms() throws {
        let values = try DotEnv.parse("""
            # comment
            PLAIN=value
            export EXPORTED=yes
            SPACED = padded   
            INLINE=value # trailing comment
            HASH=abc#def
            SINGLE='literal $HOME \\n # kept'
            DOUBLE="line\\nnext \\"quoted\\""
            EMPTY=
            URL=postgres://u:p@h:5432/db?sslmode=disable
            """)
        #expect(values["PLAIN"] == "value")
        #expect(values["EXPORTED"] == "yes")
        #expect(values["SPACED"] == "padded")
        #expect(values["INLINE"] == "value")
        #expect(values["HASH"] == "abc#def")
        #expect(values["SINGLE"] == "literal $HOME \\n # kept")
        #expect(values["DOUBLE"] == "line\nnext \"quoted\"")
        #expect(values["EMPTY"] == "")
        #expect(values["URL"] == "postgres://u:p@h:5432/db?sslmode=disable")
    }

    @Test func reportsTheLineOfABadEntry() {
        #expect(throws: DotEnv.SyntaxError(line: 2, message: "expected KEY=VALUE")) {
            try DotEnv.parse("A=1\nnot a pair\n")
        }
        #expect(throws: DotEnv.SyntaxError(line: 1, message: "missing closing \"")) {
            try DotEnv.parse("A=\"open")
        }
        #expect(throws: DotEnv.SyntaxError(line: 1, message: "'1A' is not a variable name")) {
            try DotEnv.parse("1A=x")
        }
    }
}
