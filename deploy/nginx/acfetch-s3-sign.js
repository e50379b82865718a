// acfetch: signs the requests an nginx cache sends to a private S3 bucket (AWS Signature
// Version 4, path-style addressing), so that the nodes behind the cache need no S3 key.
// Loaded by acfetch-cache-s3.conf (js_import); needs nginx's njs module (Debian:
// libnginx-mod-http-js). Every request it signs is a GET without a body or query string.
//
// The key comes from the variables $acfetch_s3_access_key and $acfetch_s3_secret_key, or when
// those are empty from the environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN (nginx passes them to its workers only when its main configuration names
// them with "env"). Nothing here logs a key, a secret, a token or a signature.

var crypto = require('crypto');

function credentials(r) {
    var v = r.variables;
    if (v.acfetch_s3_access_key && v.acfetch_s3_secret_key) {
        return {key: v.acfetch_s3_access_key, secret: v.acfetch_s3_secret_key, token: ''};
    }
    var e = process.env;
    if (e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY) {
        return {key: e.AWS_ACCESS_KEY_ID, secret: e.AWS_SECRET_ACCESS_KEY,
                token: e.AWS_SESSION_TOKEN || ''};
    }
    return null;
}

// The request time, 20261202T233029Z. nginx keeps a js_set variable's value for the rest of
// the request, so x-amz-date and the signature use the same second.
function date(r) {
    return new Date().toISOString().replace(/[-:]/g, '').replace(/\.[0-9]*/, '');
}

// RFC 3986 encoding of each path segment: everything but A-Z a-z 0-9 - . _ ~ as %XX.
function encodeSegment(s) {
    return encodeURIComponent(s).replace(/[!'()*]/g, function (c) {
        return '%' + c.charCodeAt(0).toString(16).toUpperCase();
    });
}

// The object's path at the endpoint: /BUCKET[/PREFIX] and the path the node asked for
// ($uri: decoded and normalized by nginx), encoded once. Used both in proxy_pass and in
// the signature, so the two cannot differ.
function uri(r) {
    return (r.variables.acfetch_s3_base + r.variables.uri).split('/').map(encodeSegment)
        .join('/');
}

function token(r) {
    var c = credentials(r);
    return c ? c.token : '';
}

// The TLS server name: the endpoint's host without its port.
function tlsName(r) {
    return r.variables.acfetch_s3_host.replace(/:[0-9]+$/, '');
}

function hmac(key, data) {
    return crypto.createHmac('sha256', key).update(data).digest();
}

function authorization(r) {
    var c = credentials(r);
    if (!c) {
        r.error('acfetch-s3-sign: no S3 key: set $acfetch_s3_access_key and ' +
                '$acfetch_s3_secret_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ' +
                'with "env" in the main configuration');
        return '';
    }
    var v = r.variables;
    var when = v.acfetch_s3_date;
    var day = when.substring(0, 8);
    var scope = day + '/' + v.acfetch_s3_region + '/s3/aws4_request';
    var names = 'host;x-amz-content-sha256;x-amz-date';
    var headers = 'host:' + v.acfetch_s3_host + '\n' +
                  'x-amz-content-sha256:UNSIGNED-PAYLOAD\n' +
                  'x-amz-date:' + when + '\n';
    if (c.token) {
        names += ';x-amz-security-token';
        headers += 'x-amz-security-token:' + c.token + '\n';
    }
    // Method, path, query (none), headers, signed header names, payload hash.
    var canonical = ['GET', uri(r), '', headers, names, 'UNSIGNED-PAYLOAD'].join('\n');
    var toSign = ['AWS4-HMAC-SHA256', when, scope,
                  crypto.createHash('sha256').update(canonical).digest('hex')].join('\n');
    var key = hmac(hmac(hmac(hmac('AWS4' + c.secret, day), v.acfetch_s3_region), 's3'),
                   'aws4_request');
    var signature = crypto.createHmac('sha256', key).update(toSign).digest('hex');
    return 'AWS4-HMAC-SHA256 Credential=' + c.key + '/' + scope + ', SignedHeaders=' + names +
           ', Signature=' + signature;
}

export default {date: date, uri: uri, token: token, tlsName: tlsName, authorization: authorization};
