// The process helpers live in Sources/ProcessSupport so the bench can use them too; every suite that imports
// TestSupport keeps seeing them as before.
@_exported import ProcessSupport
