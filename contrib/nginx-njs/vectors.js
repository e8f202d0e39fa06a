// Every vector of tests/vectors/ through etoken.js, in the njs CLI:
//   njs -p contrib/nginx-njs contrib/nginx-njs/vectors.js tests/vectors
// Prints one FAIL line per disagreement and "N passed, N failed".
import etoken from 'etoken.js';

var fs = require('fs');

// Key order does not matter: compare as sorted JSON.
function canonical(value) {
    if (value === null || typeof value !== 'object') { return JSON.stringify(value); }
    if (Array.isArray(value)) { return '[' + value.map(canonical).join(',') + ']'; }
    return '{' + Object.keys(value).sort().map(function (k) {
        return JSON.stringify(k) + ':' + canonical(value[k]);
    }).join(',') + '}';
}

var dir = process.argv[process.argv.length - 1];
var names = fs.readdirSync(dir).filter(function (n) { return n.slice(-5) === '.json'; }).sort();
var passed = 0, failed = 0;
names.forEach(function (name) {
    var v = JSON.parse(fs.readFileSync(dir + '/' + name, 'utf8'));
    var keys = {};
    v.keys.forEach(function (k) { keys[k.id] = Buffer.from(k.secret_hex, 'hex'); });
    var got = etoken.verify(v.token, keys, v.audience, v.leeway_seconds, v.max_length, v.now);
    if (canonical(got) === canonical(v.expect)) {
        passed++;
    } else {
        failed++;
        console.log('FAIL ' + name + ': expected ' + canonical(v.expect) + ', got ' + canonical(got));
    }
});
console.log('njs vectors: ' + passed + ' passed, ' + failed + ' failed');
if (failed > 0 || passed === 0) { throw new Error('vectors failed'); }
