// Foundation (imported by XCTest) has a `Progress` class too, and `Demo.Progress`
// names a member of the class `Demo`, not of the module: this file imports
// only the binding, so `Progress` here is demo's record.
import Demo

typealias DemoProgress = Progress
