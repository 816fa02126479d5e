// A JENKINS STAND-IN, not Jenkins: Jenkins cannot be obtained on this project's
// machines, so the tests run the repo's declarative Jenkinsfile with this script.
//
// It evaluates the Jenkinsfile with Groovy 2.4 (the Groovy of Jenkins core) and runs
// its stages in order on this machine, in the current directory as the workspace:
// `environment`, `when` (branch, expression, anyOf, allOf, not; several conditions
// must all hold), `steps` with `sh`, `echo`, `script` and
// `withCredentials([usernamePassword(...)])`, and `post` (always, success, failure,
// cleanup). `sh` behaves as Jenkins' does: a script starting with `#!` runs with that
// interpreter, any other with `sh -xe`; `sh(returnStdout: true, ...)` returns its
// stdout untrimmed (stderr goes to the log) and still fails on a non-zero exit,
// `sh(returnStatus: true, ...)` returns the exit code and never fails (it wins over
// returnStdout, as in workflow-durable-task-step). `env.X = value` (workflow-cps'
// EnvActionImpl) stores String.valueOf(value) for the later steps, stages and `sh`
// processes, but a name set by the `environment` directive keeps that value, as in
// Declarative, whose directive wraps the stages in withEnv.
// Any other directive or step fails the run and names it. There is no CPS, no
// agent, no plugin, no sandbox and no log masking; `options` are accepted unused.
//
//   groovy jenkinsfile_standin.groovy <Jenkinsfile>
// Environment: the build's variables as Jenkins would set them (GIT_COMMIT,
// BRANCH_NAME, global properties such as REGISTRY...); STANDIN_CREDENTIALS, a JSON
// object {"<id>": {"username": ..., "password": ...}}; STANDIN_STAGES, optional,
// a comma-separated list of the stages to run (the others are skipped).
// Exit status: 0 when the build succeeds, 1 when it fails, 2 on a usage error.

import groovy.json.JsonSlurper

class BuildFailure extends RuntimeException {
    BuildFailure(String message) { super(message) }
}

class Build {
    // What Jenkins gives the build (process environment, SCM and global properties).
    final Map<String, String> env = new LinkedHashMap<String, String>()
    // The `environment` directive's values, in order; they win over `env.X = ...`.
    final Map<String, String> declared = new LinkedHashMap<String, String>()
    // `env.X = ...` from steps.
    final Map<String, String> assigned = new LinkedHashMap<String, String>()
    Map credentials = [:]
    Set<String> onlyStages = null
    File workspace
    final List<Map> stages = []
    final Map<String, Closure> post = [:]
    int shCount = 0

    void log(String line) { println "[stand-in] ${line}"; System.out.flush() }

    Map<String, String> effectiveEnv(Map<String, String> extraEnv) {
        Map<String, String> effective = new LinkedHashMap<String, String>(env)
        effective.putAll(assigned)
        effective.putAll(declared)
        effective.putAll(extraEnv)
        effective
    }

    // Returns what Jenkins' step returns: null, the exit code (returnStatus) or stdout (returnStdout).
    Object sh(String script, Map<String, String> extraEnv, boolean returnStdout = false, boolean returnStatus = false) {
        File dir = new File(workspace.path + "@tmp")
        dir.mkdirs()
        File file = new File(dir, "script-${++shCount}.sh")
        file.text = script
        file.setExecutable(true, true)
        List<String> command = script.startsWith("#!") ? [file.path] : ["sh", "-xe", file.path]
        ProcessBuilder builder = new ProcessBuilder(command).directory(workspace).inheritIO()
        if (returnStdout) builder.redirectOutput(ProcessBuilder.Redirect.PIPE)
        Map<String, String> processEnv = builder.environment()
        processEnv.clear()
        processEnv.putAll(effectiveEnv(extraEnv))
        Process process = builder.start()
        String stdout = returnStdout ? process.inputStream.getText("UTF-8") : null
        int status = process.waitFor()
        file.delete()
        if (returnStatus) return status
        if (status != 0) {
            if (stdout) print stdout  // diagnostic, as Jenkins writes it to the log
            throw new BuildFailure("script returned exit code ${status}")
        }
        stdout
    }
}

// The `env` global: reads the build's effective environment; `env.X = v` sets X for the
// rest of the build (EnvActionImpl.setProperty: String.valueOf(v)).
class EnvGlobal {
    private final Build build
    private final Map<String, String> extraEnv

    EnvGlobal(Build build, Map<String, String> extraEnv) {
        this.build = build
        this.extraEnv = extraEnv
    }

    Object getProperty(String name) { build.effectiveEnv(extraEnv)[name] }

    void setProperty(String name, Object value) { build.assigned[name] = String.valueOf(value) }

    Object getAt(String name) { getProperty(name) }

    void putAt(String name, Object value) { setProperty(name, value) }
}

class Dsl {
    // Evaluates a directive's closure against a handler: names it does not know fail loudly.
    static Object apply(Closure body, Object handler) {
        Closure copy = body.rehydrate(handler, handler, handler)
        copy.resolveStrategy = Closure.DELEGATE_ONLY
        copy.call()
    }
}

class Steps {
    Build build
    Map<String, String> extraEnv = [:]

    EnvGlobal getEnv() { new EnvGlobal(build, extraEnv) }

    void sh(String script) { build.sh(script, extraEnv) }

    Object sh(Map args) {
        Set<String> unknown = (args.keySet() as Set<String>) - (["script", "returnStdout", "returnStatus", "label", "encoding"] as Set<String>)
        if (unknown) throw new BuildFailure("sh: unsupported parameters ${unknown}")
        build.sh(args.script as String, extraEnv, args.returnStdout as boolean, args.returnStatus as boolean)
    }

    void echo(Object message) { println message }

    Object script(Closure body) { Dsl.apply(body, this) }

    Map usernamePassword(Map args) { [kind: "usernamePassword"] + args }

    void withCredentials(List bindings, Closure body) {
        Map<String, String> added = [:]
        bindings.each { Map binding ->
            Map secret = build.credentials[binding.credentialsId] as Map
            if (secret == null) throw new BuildFailure("no credentials with id '${binding.credentialsId}'")
            added[binding.usernameVariable as String] = secret.username as String
            added[binding.passwordVariable as String] = secret.password as String
        }
        Dsl.apply(body, new Steps(build: build, extraEnv: extraEnv + added))
    }
}

class Conditions {
    Build build
    final List<Boolean> results = []

    EnvGlobal getEnv() { new EnvGlobal(build, [:]) }

    void branch(String pattern) {
        String name = build.env.BRANCH_NAME
        String regex = pattern.split(/\*/, -1).collect { java.util.regex.Pattern.quote(it) }.join(".*")
        results << (name != null && name ==~ regex)
    }

    void expression(Closure body) { results << (Dsl.apply(body, this) as boolean) }

    private List<Boolean> nested(Closure body) {
        Conditions inner = new Conditions(build: build)
        Dsl.apply(body, inner)
        inner.results
    }

    void anyOf(Closure body) { results << nested(body).any() }

    void allOf(Closure body) { results << nested(body).every() }

    void not(Closure body) { results << !nested(body).every() }
}

class Stage {
    Build build
    String name
    Closure when
    Closure steps

    void when(Closure body) { when = body }

    void steps(Closure body) { steps = body }
}

class StageList {
    Build build

    void stage(String name, Closure body) {
        Stage stage = new Stage(build: build, name: name)
        Dsl.apply(body, stage)
        if (stage.steps == null) throw new BuildFailure("stage '${name}' has no steps")
        build.stages << [name: name, when: stage.when, steps: stage.steps]
    }
}

class Environment {
    Build build

    Map<String, String> getEnv() { Collections.unmodifiableMap(build.effectiveEnv([:])) }

    // `NAME = value` in an environment block: set in order, later values see earlier ones.
    void propertyMissing(String name, Object value) { build.declared[name] = value == null ? null : value.toString() }

    Object propertyMissing(String name) { throw new BuildFailure("environment: unknown variable '${name}' (use env.${name})") }
}

class Options {
    void disableConcurrentBuilds() {}

    void disableConcurrentBuilds(Map args) {}

    // The stand-in never checks out: the workspace is what the caller prepared.
    void skipDefaultCheckout() {}

    void buildDiscarder(Object strategy) {}

    Object logRotator(Map args) { args }

    void timeout(Map args) {}
}

class Post {
    Build build

    void always(Closure body) { build.post.always = body }

    void success(Closure body) { build.post.success = body }

    void failure(Closure body) { build.post.failure = body }

    void cleanup(Closure body) { build.post.cleanup = body }
}

class Pipeline {
    Build build

    String getAny() { "any" }

    void agent(Object label) {}

    void options(Closure body) { Dsl.apply(body, new Options()) }

    void environment(Closure body) { Dsl.apply(body, new Environment(build: build)) }

    void stages(Closure body) { Dsl.apply(body, new StageList(build: build)) }

    void post(Closure body) { Dsl.apply(body, new Post(build: build)) }
}

if (args.length != 1) {
    System.err.println "usage: groovy jenkinsfile_standin.groovy <Jenkinsfile>"
    System.exit(2)
}
File jenkinsfile = new File(args[0])
Build build = new Build(workspace: new File(".").canonicalFile)
build.env.putAll(System.getenv())
build.env.WORKSPACE = build.workspace.path
build.env.remove("STANDIN_CREDENTIALS")
String credentialsJson = System.getenv("STANDIN_CREDENTIALS")
if (credentialsJson) build.credentials = new JsonSlurper().parseText(credentialsJson) as Map
String only = System.getenv("STANDIN_STAGES")
if (only) build.onlyStages = only.split(",").collect { it.trim() } as Set

Binding binding = new Binding()
binding.setVariable("pipeline", { Closure body -> Dsl.apply(body, new Pipeline(build: build)) })
new GroovyShell(binding).evaluate(jenkinsfile.text, jenkinsfile.name)

if (build.onlyStages != null) {
    Set<String> unknown = build.onlyStages - (build.stages.collect { it.name } as Set)
    if (unknown) {
        System.err.println "STANDIN_STAGES names stages the Jenkinsfile does not have: ${unknown}"
        System.exit(2)
    }
}

String result = "SUCCESS"
for (Map stage : build.stages) {
    if (result != "SUCCESS" || (build.onlyStages != null && !build.onlyStages.contains(stage.name))) {
        build.log("stage '${stage.name}': skipped")
        continue
    }
    if (stage.when != null) {
        Conditions conditions = new Conditions(build: build)
        Dsl.apply(stage.when as Closure, conditions)
        if (!conditions.results.every()) {
            build.log("stage '${stage.name}': skipped by its when condition")
            continue
        }
    }
    build.log("stage '${stage.name}'")
    try {
        Dsl.apply(stage.steps as Closure, new Steps(build: build))
    } catch (BuildFailure failure) {
        build.log("stage '${stage.name}' failed: ${failure.message}")
        result = "FAILURE"
    }
}
for (String condition : ["always", result == "SUCCESS" ? "success" : "failure", "cleanup"]) {
    if (build.post[condition] != null) {
        build.log("post ${condition}")
        try {
            Dsl.apply(build.post[condition], new Steps(build: build))
        } catch (BuildFailure failure) {
            build.log("post ${condition} failed: ${failure.message}")
            result = "FAILURE"
        }
    }
}
build.log("Finished: ${result}")
System.exit(result == "SUCCESS" ? 0 : 1)
