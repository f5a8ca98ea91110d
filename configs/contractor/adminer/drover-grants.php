<?php
/**
 * Adminer plugin of the contractor stack (stacks/contractor.yml, plugins-enabled/): a contractor reaches Adminer
 * through Authentik (forward auth sets X-authentik-username to the grant's login) and may log in only as that
 * grant's database user and see only its site's database. The grants are the files Drover writes per grant
 * (`drover access grant --files --db`) into DROVER_ADMINER_GRANTS (default /drover/adminer-grants), each returning
 * ['site' => …, 'login' => …, 'database' => …]; revoking a grant removes its file. The database user itself can
 * reach no other database (its privileges), this plugin keeps Adminer from offering any.
 */
class DroverGrants
{
    /** The grant of the Authentik user of this request, or null. */
    private function grant()
    {
        $who = isset($_SERVER['HTTP_X_AUTHENTIK_USERNAME']) ? $_SERVER['HTTP_X_AUTHENTIK_USERNAME'] : '';
        if (!preg_match('/^c_[a-z][a-z0-9]{0,15}_[0-9a-f]{8}$/', $who)) {
            return null;
        }
        $dir = getenv('DROVER_ADMINER_GRANTS') ?: '/drover/adminer-grants';
        $file = "$dir/$who.php";
        if (!is_file($file)) {
            return null;
        }
        $grant = include $file;
        return is_array($grant) && isset($grant['login'], $grant['database']) && $grant['login'] === $who ? $grant : null;
    }

    /** Only the grant's own database user logs in (null: Adminer's own checks follow). */
    public function login($login, $password)
    {
        $grant = $this->grant();
        if ($grant === null) {
            return 'No live Drover grant for your login.';
        }
        return $login === $grant['login'] ? null : 'Log in as the database user of your grant.';
    }

    /** The one database Adminer offers. */
    public function databases($flush = true)
    {
        $grant = $this->grant();
        return $grant === null ? array() : array($grant['database']);
    }
}

return new DroverGrants();
