// A JENKINS STAND-IN, not Jenkins: Jenkins cannot be obtained on this project's
// machines, so the tests run the repo's declarative Jenkinsfile with this script.
//
// It evaluates the Jenkinsfile with Groovy 2.4 (the Groovy of Jenkins core) and runs
// its stages in order on this machine, in the current directory as the workspace:
// `environment`, `when` (branch, expression, anyOf, allOf, not), `steps` with `sh`,
// `echo`, `script` and `withCredentials([usernamePassword(...)])`, and `post`
// (always, success, failure, cleanup). `sh` behaves as Jenkins' does: a script
// starting with `#!` runs with that interpreter, any other with `sh -xe`.
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
    final Map<String, String> env = new LinkedHashMap<String, String>()
    Map credentials = [:]
    Set<String> onlyStages = null
    File workspace
    final List<Map> stages = []
    final Map<String, Closure> post = [:]
    int shCount = 0

    void log(String line) { println "[stand-in] ${line}"; System.out.flush() }

    void sh(String script, Map<String, String> extraEnv) {
        File dir = new File(workspace.path + "@tmp")
        dir.mkdirs()
        File file = new File(dir, "script-${++shCount}.sh")
        file.text = script
        file.setExecutable(true, true)
        List<String> command = script.startsWith("#!") ? [file.path] : ["sh", "-xe", file.path]
        ProcessBuilder builder = new ProcessBuilder(command).directory(workspace).inheritIO()
        Map<String, String> processEnv = builder.environment()
        processEnv.clear()
        processEnv.putAll(env)
        processEnv.putAll(extraEnv)
        int status = builder.start().waitFor()
        file.delete()
        if (status != 0) {
            throw new BuildFailure("script returned exit code ${status}")
        }
    }
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

    // Read-only here: a Jenkinsfile that assigns env.X needs more than this stand-in.
    Map<String, String> getEnv() { Collections.unmodifiableMap(build.env + extraEnv) }

    void sh(String script) { build.sh(script, extraEnv) }

    void sh(Map args) {
        if (args.returnStdout || args.returnStatus) throw new BuildFailure("sh(returnStdout/returnStatus) is not supported")
        build.sh(args.script as String, extraEnv)
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

    Map<String, String> getEnv() { Collections.unmodifiableMap(build.env) }

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

    Map<String, String> getEnv() { build.env }

    // `NAME = value` in an environment block: set in order, later values see earlier ones.
    void propertyMissing(String name, Object value) { build.env[name] = value == null ? null : value.toString() }

    Object propertyMissing(String name) { throw new BuildFailure("environment: unknown variable '${name}' (use env.${name})") }
}

class Options {
    void disableConcurrentBuilds() {}

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
