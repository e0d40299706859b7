package dev.reclora.test

import kotlin.system.exitProcess

/** A test: a name and a body that throws on failure. */
class Case(val name: String, val body: () -> Unit)

/** Runs [cases] in order, prints one line each and `N passed, N failed`; exits 1 on a failure. */
fun runCases(cases: List<Case>) {
    var passed = 0
    var failed = 0
    for (case in cases) {
        val start = System.nanoTime()
        try {
            case.body()
            passed++
            println("PASS ${case.name} (${(System.nanoTime() - start) / 1_000_000} ms)")
        } catch (error: Throwable) {
            failed++
            println("FAIL ${case.name}: $error")
            error.printStackTrace(System.out)
        }
    }
    println("kotlin: $passed passed, $failed failed")
    if (failed > 0) exitProcess(1)
}
