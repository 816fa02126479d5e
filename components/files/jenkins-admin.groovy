// Applied at every Jenkins start (copied from the image's ref dir as *.override):
// the admin account and its password come from the stack's secret, anonymous users see nothing.
import hudson.security.FullControlOnceLoggedInAuthorizationStrategy
import hudson.security.HudsonPrivateSecurityRealm
import jenkins.model.Jenkins

def adminId = System.getenv('JENKINS_ADMIN_ID')
def adminPassword = System.getenv('JENKINS_ADMIN_PASSWORD')
if (!adminId || !adminPassword) {
    throw new IllegalStateException('JENKINS_ADMIN_ID and JENKINS_ADMIN_PASSWORD must be set')
}
def jenkins = Jenkins.get()
def realm = new HudsonPrivateSecurityRealm(false)
def admin = realm.getUser(adminId) ?: realm.createAccount(adminId, adminPassword)
admin.addProperty(HudsonPrivateSecurityRealm.Details.fromPlainPassword(adminPassword))
jenkins.setSecurityRealm(realm)
def strategy = new FullControlOnceLoggedInAuthorizationStrategy()
strategy.setAllowAnonymousRead(false)
jenkins.setAuthorizationStrategy(strategy)
jenkins.save()
