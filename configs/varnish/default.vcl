vcl 4.1;
# Varnish in front of the farm's WordPress sites: Traefik (public, TLS) → Varnish → Traefik's `origin` entrypoint
# (port 8081, inside the swarm only), which routes each Host to that site's WordPress service.
# - Logged-in users, wp-admin, wp-login, previews, carts and checkouts, and any POST bypass the cache.
# - Tracking cookies are stripped so anonymous pages are shared; WordPress/WooCommerce session cookies are not.
# - PURGE (one URL) and BAN (a whole site, by Host) only from the purge ACL: Drover's restore workers and the
#   WordPress containers' network. Drover bans a site after restoring it.
# - Grace: stale pages are served for up to 6 h while a backend is sick or being restarted.

backend default {
    .host = "traefik";
    .port = "8081";
    .connect_timeout = 5s;
    .first_byte_timeout = 60s;
    .between_bytes_timeout = 10s;
    .probe = {
        # Traefik's ping handler on the origin entrypoint (every site behind it has its own health check).
        .url = "/ping";
        .timeout = 3s;
        .interval = 10s;
        .window = 5;
        .threshold = 3;
    }
}

acl purge {
    "localhost";
    "127.0.0.1";
    "::1";
    "10.0.0.0"/8;
    "172.16.0.0"/12;
    "192.168.0.0"/16;
}

sub vcl_recv {
    # Traefik's health check of this Varnish (answered here, never cached or passed on).
    if (req.url == "/varnish-ping") {
        return (synth(200, "OK"));
    }
    # Cloudflare sends the visitor's address; keep it for WordPress and the logs.
    if (req.http.CF-Connecting-IP) {
        set req.http.X-Forwarded-For = req.http.CF-Connecting-IP;
    }

    if (req.method == "PURGE") {
        if (!client.ip ~ purge) {
            return (synth(405, "Not allowed"));
        }
        return (purge);
    }
    if (req.method == "BAN") {
        if (!client.ip ~ purge) {
            return (synth(405, "Not allowed"));
        }
        # A whole site: every object whose Host matches (lurker-friendly, so bans do not pile up).
        ban("obj.http.x-host == " + req.http.host);
        return (synth(200, "Banned " + req.http.host));
    }

    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.url ~ "^/(wp-admin|wp-login\.php|wp-cron\.php|xmlrpc\.php|wp-json/)" ||
        req.url ~ "(\?|&)(preview|p|page_id|s)=" ||
        req.url ~ "^/(cart|checkout|my-account)(/|$)" ||
        req.url ~ "(\?|&)add-to-cart=") {
        return (pass);
    }
    if (req.http.Cookie ~ "(wordpress_logged_in_|wordpress_sec_|wp-postpass_|comment_author_|woocommerce_items_in_cart|woocommerce_cart_hash|wp_woocommerce_session_)") {
        return (pass);
    }
    # Anything else in Cookie is tracking (analytics, consent banners): drop it so the page is shared.
    unset req.http.Cookie;
    return (hash);
}

sub vcl_backend_response {
    # Remember the Host on the object, for site-wide bans.
    set beresp.http.x-host = bereq.http.host;
    set beresp.grace = 6h;
    if (bereq.url ~ "\.(css|js|png|jpe?g|gif|webp|avif|svg|woff2?|ico)(\?.*)?$") {
        unset beresp.http.Set-Cookie;
        set beresp.ttl = 7d;
    } elsif (beresp.http.Set-Cookie || beresp.http.Cache-Control ~ "(private|no-cache|no-store)") {
        set beresp.uncacheable = true;
        set beresp.ttl = 120s;
        return (deliver);
    } elsif (beresp.status == 200 || beresp.status == 301 || beresp.status == 404) {
        set beresp.ttl = 10m;
    }
    return (deliver);
}

sub vcl_deliver {
    unset resp.http.x-host;
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
