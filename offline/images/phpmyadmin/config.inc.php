<?php
/**
 * phpMyAdmin configuration of the mlops-local stand-in for the official image.
 *
 * One server from PMA_HOST (default "db", as upstream) and PMA_PORT; cookie
 * login with MySQL accounts, passwordless accounts refused; NO configuration
 * storage: no controluser/controlpass, no pmadb, no zero-configuration mode
 * (phpMyAdmin would otherwise look for a `phpmyadmin` database on the server).
 * Debian's dbconfig-common file (/etc/phpmyadmin/config-db.php) is not read.
 *
 * Cookie-encryption secret: /etc/phpmyadmin/config.secret.inc.php if mounted
 * (as in the official image), else the one the entrypoint generated at start.
 */

foreach (['/etc/phpmyadmin/config.secret.inc.php', '/tmp/phpmyadmin/config.secret.inc.php'] as $pmaSecretFile) {
    if (is_readable($pmaSecretFile)) {
        require $pmaSecretFile;
        break;
    }
}

$i = 1;
$cfg['Servers'][$i]['host'] = getenv('PMA_HOST') ?: 'db';
if (getenv('PMA_PORT') !== false && getenv('PMA_PORT') !== '') {
    $cfg['Servers'][$i]['port'] = getenv('PMA_PORT');
}
if (getenv('PMA_VERBOSE') !== false && getenv('PMA_VERBOSE') !== '') {
    $cfg['Servers'][$i]['verbose'] = getenv('PMA_VERBOSE');
}
$cfg['Servers'][$i]['auth_type'] = 'cookie';
$cfg['Servers'][$i]['AllowNoPassword'] = false;
$cfg['Servers'][$i]['compress'] = false;
$cfg['Servers'][$i]['controlhost'] = '';
$cfg['Servers'][$i]['controlport'] = '';
$cfg['Servers'][$i]['controluser'] = '';
$cfg['Servers'][$i]['controlpass'] = '';
$cfg['Servers'][$i]['pmadb'] = '';
$cfg['ZeroConf'] = false;
/* Deliberately off: no notice about it on the home page. */
$cfg['PmaNoRelation_DisableWarning'] = true;

/* Behind a reverse proxy, as upstream. */
if (getenv('PMA_ABSOLUTE_URI') !== false && getenv('PMA_ABSOLUTE_URI') !== '') {
    $cfg['PmaAbsoluteUri'] = trim(getenv('PMA_ABSOLUTE_URI'));
}
if (getenv('MAX_EXECUTION_TIME') !== false) {
    $cfg['ExecTimeLimit'] = getenv('MAX_EXECUTION_TIME');
}
if (getenv('MEMORY_LIMIT') !== false) {
    $cfg['MemoryLimit'] = getenv('MEMORY_LIMIT');
}

/* Twig cache and uploads: under /tmp (a tmpfs with a read-only root fs). */
$cfg['TempDir'] = '/tmp/phpmyadmin/tmp';
$cfg['UploadDir'] = '';
$cfg['SaveDir'] = '';
/* No internet: no version check, no error reports to phpmyadmin.net. */
$cfg['VersionCheck'] = false;
$cfg['SendErrorReports'] = 'never';

/* User settings hooks of the official image. */
if (is_readable('/etc/phpmyadmin/config.user.inc.php')) {
    include '/etc/phpmyadmin/config.user.inc.php';
}
foreach (glob('/etc/phpmyadmin/conf.d/*.php') ?: [] as $pmaConfFile) {
    include $pmaConfFile;
}
