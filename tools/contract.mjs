// tools/contract.mjs: the contract check of assets/openapi.json (issue 10), run by tools/contract.
//
//	node tools/contract.mjs DOC ROUTES_FILE RECORD_FILE
//
// Three checks, each one test in the `N passed, N failed` count:
//   lint      Redocly CLI's recommended rules (run by tools/contract, not here)
//   routes    the method and path pairs of the route table (tools/routes' output) and of the
//             document are the same, both ways
//   responses every response the e2e suite recorded (CONTRACT_RECORD) validates against the
//             document: its status is documented for its operation, its content type too, and
//             its body validates against that schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1
//             says); a request no operation serves must have got a problem+json 4xx.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(process.env.CONTRACT_NODE_MODULES + '/');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

const [docPath, routesPath, recordPath] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(docPath, 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
let passed = 0;
let failed = 0;

function report(name, problems) {
	if (problems.length === 0) {
		passed++;
		console.log(`ok   ${name}`);
		return;
	}
	failed++;
	console.log(`FAIL ${name}: ${problems.length} problem(s)`);
	for (const p of problems.slice(0, 40)) console.log(`     ${p}`);
	if (problems.length > 40) console.log(`     ... and ${problems.length - 40} more`);
}

// --- routes: the route table and the document, both ways ---
function checkRoutes() {
	const table = new Set(
		readFileSync(routesPath, 'utf8').split('\n').filter((l) => l.trim() !== '')
			.map((l) => l.split(' ').slice(0, 2).join(' ')));
	const documented = new Set();
	for (const [path, item] of Object.entries(doc.paths))
		for (const m of METHODS)
			if (item[m]) documented.add(`${m.toUpperCase()} ${path}`);
	const problems = [];
	for (const r of table)
		if (!documented.has(r)) problems.push(`in the route table, not in the document: ${r}`);
	for (const d of documented)
		if (!table.has(d)) problems.push(`in the document, not in the route table: ${d}`);
	if (table.size === 0) problems.push('the route table is empty (tools/routes printed nothing)');
	report(`routes: ${table.size} in the route table, ${documented.size} in the document`, problems);
}

// --- responses ---
function pointerGet(pointer) {
	let o = doc;
	for (const raw of pointer.replace(/^#\//, '').split('/')) {
		const k = raw.replace(/~1/g, '/').replace(/~0/g, '~');
		if (o === undefined || o === null) return undefined;
		o = o[k];
	}
	return o;
}

function esc(k) {
	return k.replace(/~/g, '~0').replace(/\//g, '~1');
}

// follows a non-schema $ref (a response); returns [object, its pointer]
function deref(obj, pointer) {
	while (obj && typeof obj.$ref === 'string') {
		pointer = obj.$ref;
		obj = pointerGet(pointer);
	}
	return [obj, pointer];
}

// the templates, those with fewer parameters first (literal segments win, as in router.c)
const templates = Object.keys(doc.paths)
	.map((p) => ({
		path: p,
		params: (p.match(/\{/g) || []).length,
		re: new RegExp('^' + p.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}|\{[^}]+\}/g, '[^/]+') + '/?$'),
	}))
	.sort((a, b) => a.params - b.params);

function matchPath(path) {
	for (const t of templates)
		if (t.re.test(path)) return t.path;
	return null;
}

function checkResponses() {
	const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
	addFormats(ajv);
	ajv.addSchema(doc, 'openapi');
	const validators = new Map();
	const validatorOf = (pointer) => {
		if (!validators.has(pointer)) validators.set(pointer, ajv.compile({ $ref: 'openapi' + pointer }));
		return validators.get(pointer);
	};
	const problemPointer = '#/components/schemas/Problem';
	let lines;
	try {
		lines = readFileSync(recordPath, 'utf8').split('\n').filter((l) => l !== '');
	} catch (e) {
		report('responses: the e2e suite recorded none', [`${recordPath}: ${e.message}`]);
		return;
	}
	const problems = [];
	const seen = new Set();
	let bodies = 0;
	for (const line of lines) {
		const rec = JSON.parse(line);
		const path = rec.path.split('?')[0];
		const where = `${rec.method} ${rec.path.slice(0, 120)} -> ${rec.status}`;
		const ct = (rec.contentType || '').split(';')[0].trim().toLowerCase();
		const template = matchPath(path);
		const method = rec.method === 'HEAD' ? 'get' : rec.method.toLowerCase();
		const operation = template && doc.paths[template][method];
		const hasBody = rec.body !== undefined || rec.bodyInvalid;
		const say = (p) => {
			const key = `${rec.method} ${template || path} ${rec.status}: ${p}`;
			if (!seen.has(key)) {
				seen.add(key);
				problems.push(`${where}: ${p}`);
			}
		};

		if (!operation) {
			// no operation serves it: the edge's 404/405 (or an earlier 4xx), as problem+json
			if (rec.status < 400 || rec.status > 499) say('no operation serves this request, yet it was not a 4xx');
			else if (rec.method !== 'HEAD' && ct !== 'application/problem+json') say(`a ${rec.status} as ${ct || 'no content type'}, not application/problem+json`);
			else if (rec.body !== undefined && !validatorOf(problemPointer)(rec.body)) say(`problem body: ${ajv.errorsText(validatorOf(problemPointer).errors)}`);
			if (rec.body !== undefined) bodies++;
			continue;
		}
		const responses = operation.responses;
		const opPointer = `#/paths/${esc(template)}/${method}/responses`;
		let key = String(rec.status);
		if (!responses[key]) key = `${String(rec.status)[0]}XX`;
		if (!responses[key]) key = 'default';
		if (!responses[key]) {
			say(`status ${rec.status} is not documented for ${method.toUpperCase()} ${template}`);
			continue;
		}
		const [response, rp] = deref(responses[key], `${opPointer}/${esc(key)}`);
		if (!response.content) {
			if (hasBody && rec.method !== 'HEAD') say(`a body where the document says none (${key})`);
			continue;
		}
		if (rec.method === 'HEAD' || (!hasBody && rec.status === 304)) continue;
		if (!response.content[ct]) {
			say(`content type ${ct || '(none)'} is not documented for ${key} (${Object.keys(response.content).join(', ')})`);
			continue;
		}
		if (rec.contentEncoding) continue; // a compressed body: its type and status are checked
		// a JSON document only: NDJSON (an export's stream of lines) is checked by its type
		if (ct !== 'application/json' && !ct.endsWith('+json')) continue;
		if (rec.bodyInvalid || rec.body === undefined) {
			say('the body is not JSON');
			continue;
		}
		const validate = validatorOf(`${rp}/content/${esc(ct)}/schema`);
		bodies++;
		if (!validate(rec.body))
			say(validate.errors.slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`).join('; '));
	}
	if (lines.length === 0) problems.push(`${recordPath} holds no response`);
	report(`responses: ${lines.length} recorded, ${bodies} bodies validated`, problems);
}

checkRoutes();
checkResponses();
console.log(`contract: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
