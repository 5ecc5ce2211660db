// The qx extension. Highlighting is the TextMate grammar in syntaxes/ (declared in
// package.json, no code), so it works without a server. Everything else (diagnostics,
// hover, completion, definitions, rename, formatting) comes from qpurun's own language
// server, `qpurun lsp`, started here over stdio.
"use strict";

const os = require("os");
const path = require("path");
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

/** @type {LanguageClient | undefined} */
let client;
/** @type {vscode.FileSystemWatcher | undefined} */
let watcher;

/** The configured executable, with `${workspaceFolder}` and a leading `~` expanded. */
function executable() {
  let command = vscode.workspace.getConfiguration("qpurun").get("path") || "qpurun";
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  if (folder) {
    command = command.split("${workspaceFolder}").join(folder.uri.fsPath);
  }
  if (command === "~" || command.startsWith("~/")) {
    command = path.join(os.homedir(), command.slice(1));
  }
  return command;
}

async function start() {
  const command = executable();
  const server = { command, args: ["lsp"], transport: TransportKind.stdio };
  watcher = vscode.workspace.createFileSystemWatcher("**/{*.qx,qpurun.toml}");
  client = new LanguageClient(
    "qpurun",
    "qpurun",
    { run: server, debug: server },
    {
      documentSelector: [
        { scheme: "file", language: "qx" },
        { scheme: "untitled", language: "qx" },
      ],
      // An included file or the project configuration changing can change a spec's diagnostics.
      synchronize: { fileEvents: watcher },
    },
  );
  try {
    await client.start();
  } catch (error) {
    client = undefined;
    const message = error instanceof Error ? error.message : String(error);
    vscode.window.showErrorMessage(
      `The qpurun language server did not start (${command} lsp: ${message}). ` +
        `Install it with \`pip install 'qpurun[lsp]'\`, or set "qpurun.path" to the qpurun executable. ` +
        `Highlighting works without it.`,
    );
  }
}

async function stop() {
  const running = client;
  client = undefined;
  if (watcher) {
    watcher.dispose();
    watcher = undefined;
  }
  if (running) {
    try {
      await running.stop();
    } catch {
      // It had not started, or has already gone: nothing to stop.
    }
  }
}

async function restart() {
  await stop();
  await start();
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("qpurun.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("qpurun.path")) {
        await restart();
      }
    }),
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
