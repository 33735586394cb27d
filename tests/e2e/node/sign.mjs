// Signs webhook deliveries with the senders' own npm libraries and prints the headers as JSON.
// stdin: a JSON list of {"scheme": "standard"|"github", "secret": "...", "body": "...",
//                        "id": "...", "timestamp": <unix seconds, optional: now>}
// stdout: a JSON list with one header object per request, in order.
import standardwebhooks from "standardwebhooks";
import { sign as githubSign } from "@octokit/webhooks-methods";

const { Webhook } = standardwebhooks;

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function signOne(req) {
  if (req.scheme === "standard") {
    const wh = new Webhook(req.secret);
    const when = req.timestamp === undefined ? new Date() : new Date(req.timestamp * 1000);
    return {
      "webhook-id": req.id,
      "webhook-timestamp": String(Math.floor(when.getTime() / 1000)),
      "webhook-signature": wh.sign(req.id, when, req.body),
    };
  }
  if (req.scheme === "github") {
    return {
      "X-GitHub-Event": req.event ?? "push",
      "X-GitHub-Delivery": req.id,
      "X-Hub-Signature-256": await githubSign(req.secret, req.body),
    };
  }
  throw new Error(`unknown scheme ${req.scheme}`);
}

const requests = JSON.parse(await readStdin());
const out = [];
for (const req of requests) out.push(await signOne(req));
process.stdout.write(JSON.stringify(out) + "\n");
