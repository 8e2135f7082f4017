import Storage
import Testing

@Suite struct SQLScriptTests {
    @Test func splitsOnSemicolonsOutsideQuotesCommentsAndDollarBodies() {
        let script = """
            -- leading comment; not a statement
            CREATE TABLE a (x text DEFAULT 'semi;colon', "odd;name" int);
            /* block; /* nested; */ still comment */
            INSERT INTO a VALUES ('it''s; fine', 1);
            CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;
            DO $body$ BEGIN PERFORM 1; END $body$;
            SELECT E'escaped \\' quote; here', $1;
            -- trailing comment only;
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 5, "\(statements)")
        #expect(statements[0].hasSuffix(#""odd;name" int)"#))
        #expect(statements[1].contains("'it''s; fine'"))
        #expect(statements[2].hasSuffix("$$ LANGUAGE plpgsql"))
        #expect(statements[3].hasPrefix("/* block") == false && statements[3].contains("$body$ BEGIN PERFORM 1; END $body$"))
        #expect(statements[4].hasSuffix("$1"))
    }

    @Test func emptyAndCommentOnlyScriptsHaveNoStatements() {
        #expect(SQLScript.statements(in: "").isEmpty)
        #expect(SQLScript.statements(in: "-- nothing;\n/* here; */ ;;").isEmpty)
    }

    @Test func shippedMigrationsAreOrderedAndSplitCleanly() throws {
        let migrations = try Migration.bundled()
        #expect(migrations.map(\.version) == Array(1...migrations.count))
        for migration in migrations {
            let statements = SQLScript.statements(in: migration.sql)
            #expect(!statements.isEmpty)
            #expect(statements.allSatisfy { !$0.hasSuffix(";") })
        }
    }
}
