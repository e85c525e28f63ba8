/**
 * The apps the test bed deploys, as source text. Each one can be told to
 * misbehave the way real workers do: hoard memory, hold a request, or
 * hang in a request while ignoring every graceful signal.
 *
 * Query parameters are bounded by the apps themselves, so a typo in a test
 * cannot make a worker eat the machine.
 */

/** Largest hoard an endpoint accepts, in MB. */
export const MAX_BLOAT_MB = 1024;
/** Longest request an endpoint holds, in seconds. */
export const MAX_BUSY_SECONDS = 600;

/**
 * A Rack app. Endpoints (every one answers with the worker's pid):
 * `/` and `/pid`; `/bloat?mb=N[&busy=S]` dirties N MB kept in a global,
 * then holds the request S seconds; `/busy?s=S[&mb=N]` the same the other
 * way round; `/hold?mb=N&token=T` dirties N MB, then holds the request
 * until a file `release-T` appears in the app root (at most
 * MAX_BUSY_SECONDS), so a test decides when it ends, however slow the
 * machine; `/freeze[?mb=N]` ignores TERM, USR1 and INT and never
 * returns, so only SIGKILL ends the worker.
 */
export function rackApp(appName: string): string {
  return `# ${appName}: a Rack app for the passenger-fleet test bed.
require 'uri'

HOARD = []
MEGABYTE = 1024 * 1024

def bounded(params, key, max)
  text = params.fetch(key, '0')
  raise ArgumentError, "#{key} must be a whole number, got #{text}" \\
    unless text.match?(/\\A\\d+\\z/)
  value = Integer(text, 10)
  raise ArgumentError, "#{key} must be at most #{max}, got #{value}" \\
    if value > max
  value
end

# Strings of 'x' are written byte by byte, so their pages are dirty.
def hoard(mb)
  mb.times { HOARD << ('x' * MEGABYTE) }
end

def answer(status, text)
  [status, { 'content-type' => 'text/plain' }, ["#{text}\\n"]]
end

run(lambda do |env|
  params = URI.decode_www_form(env['QUERY_STRING'].to_s).to_h
  case env['PATH_INFO']
  when '/', '/pid'
    answer(200, Process.pid)
  when '/bloat'
    hoard(bounded(params, 'mb', ${MAX_BLOAT_MB}))
    sleep(bounded(params, 'busy', ${MAX_BUSY_SECONDS}))
    answer(200, Process.pid)
  when '/busy'
    hoard(bounded(params, 'mb', ${MAX_BLOAT_MB}))
    sleep(bounded(params, 's', ${MAX_BUSY_SECONDS}))
    answer(200, Process.pid)
  when '/hold'
    hoard(bounded(params, 'mb', ${MAX_BLOAT_MB}))
    token = params.fetch('token', '')
    return answer(400, 'token must be 1-32 of a-z0-9') \\
      unless token.match?(/\\A[a-z0-9]{1,32}\\z/)
    release = File.join(__dir__, "release-#{token}")
    deadline = Time.now + ${MAX_BUSY_SECONDS}
    sleep(0.1) until File.exist?(release) || Time.now > deadline
    answer(200, Process.pid)
  when '/freeze'
    hoard(bounded(params, 'mb', ${MAX_BLOAT_MB}))
    %w[TERM USR1 INT].each { |signal| Signal.trap(signal) {} }
    sleep
  else
    answer(404, "no such endpoint: #{env['PATH_INFO']}")
  end
rescue ArgumentError => e
  answer(400, e.message)
end)
`;
}

/** A Node app: `/` and `/pid`, `/bloat?mb=N`. */
export function nodeApp(appName: string): string {
  return `// ${appName}: a Node app for the passenger-fleet test bed.
const http = require('node:http');

const hoard = [];
const MEGABYTE = 1024 * 1024;

function answer(res, status, text) {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text + '\\n');
}

http
  .createServer((req, res) => {
    const url = new URL(req.url, 'http://testbed.invalid');
    if (url.pathname === '/' || url.pathname === '/pid') {
      return answer(res, 200, String(process.pid));
    }
    if (url.pathname === '/bloat') {
      const mb = Number(url.searchParams.get('mb') ?? '0');
      if (!Number.isInteger(mb) || mb < 0 || mb > ${MAX_BLOAT_MB}) {
        return answer(res, 400, 'mb must be a whole number up to ${MAX_BLOAT_MB}');
      }
      // fill() writes every byte, so the pages are dirty.
      for (let i = 0; i < mb; i++) hoard.push(Buffer.alloc(MEGABYTE).fill(120));
      return answer(res, 200, String(process.pid));
    }
    return answer(res, 404, 'no such endpoint: ' + url.pathname);
  })
  .listen(3000);
`;
}

/** A Python WSGI app: `/` and `/pid`, `/bloat?mb=N`. */
export function wsgiApp(appName: string): string {
  return `# ${appName}: a WSGI app for the passenger-fleet test bed.
import os
from urllib.parse import parse_qs

HOARD = []
MEGABYTE = 1024 * 1024


def answer(start_response, status, text):
    start_response(status, [('Content-Type', 'text/plain')])
    return [(text + '\\n').encode()]


def application(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    params = parse_qs(environ.get('QUERY_STRING', ''))
    if path in ('/', '/pid'):
        return answer(start_response, '200 OK', str(os.getpid()))
    if path == '/bloat':
        text = params.get('mb', ['0'])[0]
        if not text.isdigit() or int(text) > ${MAX_BLOAT_MB}:
            return answer(start_response, '400 Bad Request',
                          'mb must be a whole number up to ${MAX_BLOAT_MB}')
        # Multiplying bytes writes every byte, so the pages are dirty.
        for _ in range(int(text)):
            HOARD.append(b'x' * MEGABYTE)
        return answer(start_response, '200 OK', str(os.getpid()))
    return answer(start_response, '404 Not Found', 'no such endpoint: ' + path)
`;
}
