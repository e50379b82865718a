# acfetch: a shared chunk cache, varnish in front of one chunk store (a web server, or an S3
# bucket whose objects can be read without credentials).
#
# Replace the placeholders, then start it, e.g.:
#   varnishd -a 10.0.0.5:8080 -f /etc/varnish/acfetch-cache.vcl -s file,/var/cache/varnish/acfetch.bin,50G
#   @ORIGIN_HOST@  the store's host name or address; also the Host header the origin gets
#   @ORIGIN_PORT@  its port (plain http: varnish does not speak TLS to a backend; put a TLS
#                  client such as an nginx or stunnel next to it for an https origin)
# The store URL the nodes are given is http://ADDRESS:PORT/... of this cache (-a above), never
# a forward proxy. The cache serves what it holds to anyone who reaches it, without asking who
# they are: restrict it by address (-a on a private network, a firewall) if the images are not
# public. For a private S3 bucket use deploy/nginx/acfetch-cache-s3.conf, which signs upstream.
#
# Every sub below ends in return(...), so varnish's built-in VCL never runs after it: that one
# would pass (not cache) any request carrying Authorization or Cookie and keep objects 120 s.
# Concurrent misses for one chunk wait for the single backend fetch (varnish's waiting list);
# an object marked uncacheable would turn that off for it, so only non-200s are.

vcl 4.1;

backend acfetch_origin {
    .host = "@ORIGIN_HOST@";
    .port = "@ORIGIN_PORT@";
    .connect_timeout = 5s;
    # A slow origin or a large chunk: waiters stay queued as long as the fill lasts.
    .first_byte_timeout = 120s;
    .between_bytes_timeout = 60s;
}

sub vcl_recv {
    if (req.method != "GET" && req.method != "HEAD") {
        return (synth(405));
    }
    # A node's credentials never travel upstream through a cache shared by every node.
    unset req.http.Authorization;
    unset req.http.Cookie;
    # Chunks are named by their content: a URL is one immutable object.
    if (req.url ~ "^/([^?#]*/)?[0-9a-f]{4}/[0-9a-f]{64}\.cacnk$") {
        return (hash);
    }
    # Discovery pages, indexes and signatures change: passed through, never cached here, so a
    # node's revalidation (If-None-Match) reaches the origin.
    return (pass);
}

sub vcl_hash {
    # The path is the identity, whatever Host the node used.
    hash_data(req.url);
    return (lookup);
}

sub vcl_backend_fetch {
    set bereq.http.Host = "@ORIGIN_HOST@";
    return (fetch);
}

sub vcl_backend_response {
    if (bereq.uncacheable) {
        return (deliver);
    }
    if (beresp.status == 200) {
        # Immutable: a year, whatever Cache-Control the origin sends.
        set beresp.ttl = 365d;
        set beresp.grace = 0s;
        unset beresp.http.Set-Cookie;
        unset beresp.http.Vary;
        return (deliver);
    }
    # Only 200s: a 404 (a chunk not published yet) or an error must not stick.
    set beresp.ttl = 0s;
    set beresp.grace = 0s;
    set beresp.uncacheable = true;
    return (deliver);
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache-Status = "HIT";
    } else {
        set resp.http.X-Cache-Status = "MISS";
    }
    return (deliver);
}
