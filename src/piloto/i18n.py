"""Messages a person reads in the chat, in English and Spanish."""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "es"]

MESSAGES: dict[str, dict[str, str]] = {
    "proposed": {
        "en": "Proposed plan: {summary}\n\n{steps}\n\nReply **yes** to run it or **no** to cancel (or use the buttons).",
        "es": "Plan propuesto: {summary}\n\n{steps}\n\nResponde **sí** para ejecutarlo o **no** para cancelarlo (o usa los botones).",
    },
    "superseded": {
        "en": "The previous plan was replaced by this one.",
        "es": "El plan anterior fue reemplazado por este.",
    },
    "no_interrupted_step": {
        "en": "This run has no interrupted step.",
        "es": "Esta ejecución no tiene ningún paso interrumpido.",
    },
    "step_decided_retry": {
        "en": "{actor} asked to run step {n} again.",
        "es": "{actor} pidió ejecutar de nuevo el paso {n}.",
    },
    "step_decided_skip": {
        "en": "{actor} skipped step {n}.",
        "es": "{actor} omitió el paso {n}.",
    },
    "confirmed": {
        "en": "Confirmed by {actor}. Running the plan…",
        "es": "Confirmado por {actor}. Ejecutando el plan…",
    },
    "auto_approved": {
        "en": "Auto-approved by the project's policy (read-only steps). Running the plan…",
        "es": "Aprobado automáticamente por la política del proyecto (solo lectura). Ejecutando el plan…",
    },
    "cancelled": {"en": "Plan cancelled by {actor}.", "es": "Plan cancelado por {actor}."},
    "cancelling": {
        "en": "Cancelling: the step in flight is aborted now (its outcome may be unknown) and no further step runs.",
        "es": "Cancelando: el paso en curso se aborta ahora (su resultado puede quedar desconocido) y no se ejecuta ningún paso más.",
    },
    "expired": {
        "en": "That plan expired without confirmation. Ask again to get a fresh one.",
        "es": "Ese plan caducó sin confirmación. Pídelo de nuevo para obtener uno nuevo.",
    },
    "already_running": {
        "en": "A plan is already running in this chat (status: {status}). Wait for it to finish or cancel it.",
        "es": "Ya hay un plan en ejecución en este chat (estado: {status}). Espera a que termine o cancélalo.",
    },
    "no_plan_pending": {
        "en": "There is no plan pending confirmation in this chat.",
        "es": "No hay ningún plan pendiente de confirmación en este chat.",
    },
    "ambiguous": {
        "en": "I did not run anything. Reply **yes** to run the proposed plan or **no** to cancel it.",
        "es": "No ejecuté nada. Responde **sí** para ejecutar el plan propuesto o **no** para cancelarlo.",
    },
    "viewer_cannot_confirm": {
        "en": "Your token is a viewer's: you can read this chat but not confirm plans.",
        "es": "Tu token es de solo lectura: puedes leer este chat pero no confirmar planes.",
    },
    "step_blocked": {"en": "blocked: {reason}", "es": "bloqueado: {reason}"},
    "direct_mode": {
        "en": "No model is configured, so Piloto is in direct mode. Use `/cmd SERVICE COMMAND` or `/call SERVICE OPERATION {{json}}`; `/help` lists them.",
        "es": "No hay un modelo configurado, así que Piloto está en modo directo. Usa `/cmd SERVICIO COMANDO` o `/call SERVICIO OPERACIÓN {{json}}`; `/help` los muestra.",
    },
    "help": {
        "en": "Commands:\n- `/cmd SERVICE COMMAND` — propose running a shell command on a toolbox (e.g. `/cmd demo uname -a`)\n- `/call SERVICE OPERATION {{json}}` — propose one call (e.g. `/call demo system_info {{}}`)\n- `/run RUNBOOK key=value …` — propose a saved runbook (e.g. `/run disk-usage path=/var/log`; quote names with spaces)\n- `/help` — this list\n\nEvery plan waits for your confirmation.",
        "es": "Comandos:\n- `/cmd SERVICIO COMANDO` — propone ejecutar un comando en un toolbox (p. ej. `/cmd demo uname -a`)\n- `/call SERVICIO OPERACIÓN {{json}}` — propone una llamada (p. ej. `/call demo system_info {{}}`)\n- `/run RUNBOOK clave=valor …` — propone un runbook guardado (p. ej. `/run disk-usage path=/var/log`; entrecomilla los nombres con espacios)\n- `/help` — esta lista\n\nCada plan espera tu confirmación.",
    },
    "invalid_plan": {
        "en": "I could not propose that plan: {reason}",
        "es": "No pude proponer ese plan: {reason}",
    },
    "step_done": {
        "en": "Step {n}/{total} {service} · {operation}: {status}{duration}{detail}",
        "es": "Paso {n}/{total} {service} · {operation}: {status}{duration}{detail}",
    },
    "run_done": {
        "en": "Plan finished: {done} of {total} steps done.",
        "es": "Plan terminado: {done} de {total} pasos completados.",
    },
    "run_error": {
        "en": "Plan stopped with an error at step {n}: {error}",
        "es": "El plan se detuvo con un error en el paso {n}: {error}",
    },
    "run_cancelled": {
        "en": "Plan cancelled; {done} of {total} steps had run.",
        "es": "Plan cancelado; se ejecutaron {done} de {total} pasos.",
    },
    "run_interrupted": {
        "en": "Piloto restarted while step {n} ({operation}) was in flight and cannot tell whether it ran. Choose: retry the step, skip it, or abort.",
        "es": "Piloto se reinició mientras el paso {n} ({operation}) estaba en curso y no sabe si se ejecutó. Elige: reintentar el paso, saltarlo o abortar.",
    },
    "run_resumed": {
        "en": "Piloto restarted while step {n} ({operation}) was in flight; it is safe to send again (idempotent), so it is being resent.",
        "es": "Piloto se reinició mientras el paso {n} ({operation}) estaba en curso; se puede reenviar sin riesgo (idempotente), así que se reenvía.",
    },
    "retrying": {
        "en": "Step {n} failed (attempt {attempt} of {max}); retrying in {delay:.1f} s.",
        "es": "El paso {n} falló (intento {attempt} de {max}); reintentando en {delay:.1f} s.",
    },
    "reasoner_fix": {
        "en": "The reasoner proposes `{cmd}` ({reason}); it only reads, so it runs under the confirmation already given.",
        "es": "El razonador propone `{cmd}` ({reason}); solo lee, así que se ejecuta con la confirmación ya dada.",
    },
    "reasoner_blocked": {
        "en": "The reasoner proposed `{cmd}`, which was not run: {reason}",
        "es": "El razonador propuso `{cmd}`, que no se ejecutó: {reason}",
    },
    "reasoner_new_plan": {
        "en": "The reasoner's correction of step {n} of “{summary}” was not run: it needs your confirmation, so a new plan was proposed.",
        "es": "La corrección del razonador para el paso {n} de «{summary}» no se ejecutó: necesita tu confirmación, así que se propuso un plan nuevo.",
    },
    # At most once (issue 16): corrections never widen consent; unknown outcomes wait for a person.
    "correction_not_read": {
        "en": "its risk is {risk}, and only a read-only correction runs under the confirmation already given",
        "es": "su riesgo es {risk}, y solo una corrección de solo lectura se ejecuta con la confirmación ya dada",
    },
    "step_outcome_unknown": {
        "en": "Step {n} ({service} · {operation}) failed after its request was sent ({reason}), so whether it took effect is unknown; Piloto does not send it again on its own. Check {check}, then choose: retry the step, skip it, or abort.",
        "es": "El paso {n} ({service} · {operation}) falló después de enviar su petición ({reason}), así que no se sabe si tuvo efecto; Piloto no la reenvía por su cuenta. Comprueba {check} y elige: reintentar el paso, saltarlo o abortar.",
    },
    "check_command": {
        "en": "on the machine whether `{cmd}` ran (its files, processes and logs)",
        "es": "en la máquina si `{cmd}` se ejecutó (sus archivos, procesos y registros)",
    },
    "check_call": {
        "en": "in {service} whether the request was applied",
        "es": "en {service} si la petición se aplicó",
    },
    "unknown_after_send": {
        "en": "{reason}; the request had been sent, so whether it took effect is unknown",
        "es": "{reason}; la petición ya se había enviado, así que no se sabe si tuvo efecto",
    },
    "correction_not_run": {
        "en": "{reason}; the reasoner's correction `{cmd}` was not run: {why}",
        "es": "{reason}; la corrección del razonador `{cmd}` no se ejecutó: {why}",
    },
    "reasoner_no_fix": {
        "en": "{reason}; the reasoner found no safe fix: {why}",
        "es": "{reason}; el razonador no encontró un arreglo seguro: {why}",
    },
    "reasoner_gave_up": {
        "en": "The reasoner found no safe fix: {reason}",
        "es": "El razonador no encontró un arreglo seguro: {reason}",
    },
    "model_error": {"en": "{message}", "es": "{message}"},
    # Consent bound to people (plans/, projects/).
    "proposed_for_other": {
        "en": "Nothing was run: this plan was proposed for {name}, not for you, so a typed “yes” cannot confirm it. Review the plan and use the Confirm button on its card.",
        "es": "No se ejecutó nada: este plan se propuso para {name}, no para ti, así que un «sí» escrito no puede confirmarlo. Revisa el plan y usa el botón Confirmar de su tarjeta.",
    },
    "someone_else": {"en": "someone else", "es": "otra persona"},
    "op_risk_read": {"en": "only reads ({where})", "es": "solo lee ({where})"},
    "op_risk_write": {
        "en": "changes data on the service ({where})",
        "es": "cambia datos en el servicio ({where})",
    },
    "op_risk_destructive": {
        "en": "deletes or destroys data on the service ({where})",
        "es": "borra o destruye datos en el servicio ({where})",
    },
    "op_risk_override": {
        "en": "risk set by an admin for {where}",
        "es": "riesgo fijado por un administrador para {where}",
    },
    "corrects_step": {
        "en": "This plan corrects failed step {index} of an earlier run; it needs your confirmation.",
        "es": "Este plan corrige el paso {index} fallido de una ejecución anterior; necesita tu confirmación.",
    },
    "approval_recorded": {
        "en": "Approved by {actor} ({count} of {required} approvals). It runs when {missing} more person(s) with the operator role approve it on its card.",
        "es": "Aprobado por {actor} ({count} de {required} aprobaciones). Se ejecutará cuando {missing} persona(s) más con rol de operador lo aprueben en su tarjeta.",
    },
    "already_approved": {
        "en": "You have already approved this plan ({count} of {required} approvals); it needs another person with the operator role to approve it.",
        "es": "Ya aprobaste este plan ({count} de {required} aprobaciones); necesita que otra persona con rol de operador lo apruebe.",
    },
    "settings_admin_only": {
        "en": "Only an admin can set these project settings: {keys}. Create or change the project without them, or ask an admin.",
        "es": "Solo un administrador puede fijar estos ajustes del proyecto: {keys}. Crea o cambia el proyecto sin ellos, o pídeselo a un administrador.",
    },
    "settings_unknown": {
        "en": "Unknown project setting: {keys}. Nothing was changed. Known settings: {known}.",
        "es": "Ajuste de proyecto desconocido: {keys}. No se cambió nada. Ajustes conocidos: {known}.",
    },
    "settings_invalid": {
        "en": "Invalid project settings: {problems}. Nothing was changed.",
        "es": "Ajustes de proyecto no válidos: {problems}. No se cambió nada.",
    },
    "approvals_shape": {
        "en": 'required_approvals must be an object from risk to a number of people, e.g. {{"destructive": 2}}.',
        "es": 'required_approvals debe ser un objeto de riesgo a número de personas, p. ej. {{"destructive": 2}}.',
    },
    "approvals_risk": {
        "en": "required_approvals: “{given}” is not a risk; use {risks}.",
        "es": "required_approvals: «{given}» no es un riesgo; usa {risks}.",
    },
    "approvals_count": {
        "en": "required_approvals.{risk}: {value} is not a number of people from 1 to {most}.",
        "es": "required_approvals.{risk}: {value} no es un número de personas entre 1 y {most}.",
    },
    # The copilot loop (issue 13): follow-up turns, direct-mode summaries, step statuses.
    "auto_turns_reached": {
        "en": "I stopped after {n} automatic turns without a message from you (the limit, PILOTO_LLM_MAX_AUTO_TURNS). Tell me how to continue.",
        "es": "Me detuve tras {n} turnos automáticos sin un mensaje tuyo (el límite, PILOTO_LLM_MAX_AUTO_TURNS). Dime cómo seguir.",
    },
    "followup_failed": {
        "en": "Piloto could not ask the model about the plan's result (an internal error; it was logged). The result is above; ask about it to continue.",
        "es": "Piloto no pudo preguntar al modelo por el resultado del plan (un error interno; quedó registrado). El resultado está arriba; pregunta por él para continuar.",
    },
    "direct_exit": {
        "en": "Step {n}: exit code {code}",
        "es": "Paso {n}: código de salida {code}",
    },
    "direct_status": {"en": "Step {n}: HTTP {status}", "es": "Paso {n}: HTTP {status}"},
    "direct_more_lines": {"en": "… and {n} more lines", "es": "… y {n} líneas más"},
    "incomplete_text": {
        "en": "{text}\n\n*(incomplete: the answer was cut off)*",
        "es": "{text}\n\n*(incompleto: la respuesta se cortó)*",
    },
    "direct_cmd_summary": {"en": "Run `{cmd}` on {service}", "es": "Ejecutar `{cmd}` en {service}"},
    "direct_call_summary": {
        "en": "Call {operation} on {service}",
        "es": "Llamar a {operation} en {service}",
    },
    "unknown_service": {
        "en": "There is no service named “{service}” in this project. Check the name in the Services list.",
        "es": "No hay ningún servicio llamado “{service}” en este proyecto. Revisa el nombre en la lista de servicios.",
    },
    "unknown_command": {
        "en": "Unknown command {command}. Try /help.",
        "es": "Comando desconocido {command}. Prueba /help.",
    },
    "cmd_usage": {
        "en": "Usage: /cmd SERVICE COMMAND — for example `/cmd demo uname -a`.",
        "es": "Uso: /cmd SERVICIO COMANDO — por ejemplo `/cmd demo uname -a`.",
    },
    "call_usage": {
        "en": "Usage: /call SERVICE OPERATION {{json}} — for example `/call demo system_info {{}}`.",
        "es": "Uso: /call SERVICIO OPERACIÓN {{json}} — por ejemplo `/call demo system_info {{}}`.",
    },
    "no_command_operation": {
        "en": "“{service}” has no /command operation; use /call for its other operations.",
        "es": "“{service}” no tiene una operación /command; usa /call para sus otras operaciones.",
    },
    "call_args_not_json": {
        "en": 'The arguments are not valid JSON ({error} at column {column}). Example: {{"id": 3}}',
        "es": 'Los argumentos no son JSON válido ({error} en la columna {column}). Ejemplo: {{"id": 3}}',
    },
    "call_args_not_object": {
        "en": 'The arguments must be a JSON object, like {{"id": 3}}.',
        "es": 'Los argumentos deben ser un objeto JSON, como {{"id": 3}}.',
    },
    "command_exited": {
        "en": "the command exited with code {code}",
        "es": "el comando terminó con código {code}",
    },
    "command_timed_out": {
        "en": "the command timed out and was killed",
        "es": "el comando superó el tiempo límite y se detuvo",
    },
    "output_reports": {"en": "the output reports {label}", "es": "la salida indica {label}"},
    "not_draft": {
        "en": "This plan is {status}; only a draft can be confirmed.",
        "es": "Este plan está {status}; solo se puede confirmar un borrador.",
    },
    "status_done": {"en": "done", "es": "hecho"},
    "status_error": {"en": "error", "es": "error"},
    "status_skipped": {"en": "skipped", "es": "omitido"},
    "status_interrupted": {"en": "interrupted", "es": "interrumpido"},
    "status_running": {"en": "running", "es": "en curso"},
    "body_too_large": {
        "en": "The request body is larger than the {limit} limit. Send less, or ask the administrator to raise PILOTO_MAX_BODY_BYTES (PILOTO_MAX_DOCUMENT_BYTES for OpenAPI documents).",
        "es": "El cuerpo de la petición supera el límite de {limit}. Envía menos, o pide al administrador que suba PILOTO_MAX_BODY_BYTES (PILOTO_MAX_DOCUMENT_BYTES para documentos OpenAPI).",
    },
    "status_pending": {"en": "pending", "es": "pendiente"},
    "status_draft": {"en": "a draft", "es": "en borrador"},
    "status_queued": {"en": "queued", "es": "en cola"},
    "status_cancelling": {"en": "cancelling", "es": "cancelándose"},
    "status_cancelled": {"en": "cancelled", "es": "cancelado"},
    "status_superseded": {"en": "superseded", "es": "reemplazado"},
    "status_expired": {"en": "expired", "es": "caducado"},
    # The risk word and reason of a step in the "Proposed plan" list.
    "risk_read": {"en": "read", "es": "lectura"},
    "risk_write": {"en": "write", "es": "escritura"},
    "risk_destructive": {"en": "destructive", "es": "destructivo"},
    "step_risk": {"en": "{risk}: {reason}", "es": "{risk}: {reason}"},
    # Why a plan cannot be proposed, step by step ("I could not propose that plan: …").
    "plan_no_steps": {"en": "the plan has no steps", "es": "el plan no tiene pasos"},
    "plan_too_many_steps": {
        "en": "the plan has {n} steps; this project allows at most {limit}",
        "es": "el plan tiene {n} pasos; este proyecto permite como mucho {limit}",
    },
    "plan_step_problem": {"en": "step {n}: {problem}", "es": "paso {n}: {problem}"},
    "plan_hidden_chars": {
        "en": "refused, the arguments hold invisible or direction-changing characters that would make the card show something else: {where}",
        "es": "rechazado: los argumentos contienen caracteres invisibles o que cambian la dirección del texto, y la tarjeta mostraría otra cosa: {where}",
    },
    "plan_hash_mismatch": {
        "en": "The plan changed since you saw it (its hash differs). Review the current plan and confirm again.",
        "es": "El plan cambió desde que lo viste (su hash es otro). Revisa el plan actual y confírmalo de nuevo.",
    },
    "needs_role": {
        "en": "This needs the {role} role; your token is a {have}.",
        "es": "Esto requiere el rol {role}; tu token es de {have}.",
    },
    "role_viewer": {"en": "viewer", "es": "lector"},
    "role_operator": {"en": "operator", "es": "operador"},
    "role_admin": {"en": "admin", "es": "administrador"},
    "role_alerts": {"en": "alerts (Alertmanager)", "es": "alertas (Alertmanager)"},
    # Why a step's operation cannot be used (the registry's codes), in a plan's reasons.
    "resolve_unknown_service": {
        "en": "unknown service “{service}”",
        "es": "no hay ningún servicio llamado “{service}”",
    },
    "resolve_service_disabled": {
        "en": "service “{service}” is disabled",
        "es": "el servicio “{service}” está desactivado",
    },
    "resolve_no_operation": {
        "en": "service “{service}” has no operation “{operation}”",
        "es": "el servicio “{service}” no tiene ninguna operación “{operation}”",
    },
    "resolve_operation_disabled": {
        "en": "operation “{operation}” of “{service}” is disabled",
        "es": "la operación “{operation}” de “{service}” está desactivada",
    },
    "not_allowed_any_more": {
        "en": "not allowed any more: {reason}",
        "es": "ya no está permitido: {reason}",
    },
    # Notifications out (notify/): the text of the webhook's message.
    "notify_plan_awaiting_approval": {
        "en": "A plan is waiting for approval in “{chat}”: {summary}",
        "es": "Un plan espera aprobación en «{chat}»: {summary}",
    },
    "notify_run_done": {
        "en": "A run finished in “{chat}”: {summary}",
        "es": "Una ejecución terminó en «{chat}»: {summary}",
    },
    "notify_run_failed": {
        "en": "A run failed in “{chat}”: {summary}",
        "es": "Una ejecución falló en «{chat}»: {summary}",
    },
    "notify_run_interrupted": {
        "en": "A run was interrupted and waits for a person in “{chat}”: {summary}",
        "es": "Una ejecución se interrumpió y espera a una persona en «{chat}»: {summary}",
    },
    # The MCP config import (services/importer.py): why one entry was not registered.
    "import_not_object": {
        "en": "This entry is not an object: give it command (and args, env) or url (and headers).",
        "es": "Esta entrada no es un objeto: dale command (y args, env) o url (y headers).",
    },
    "import_bad_field": {
        "en": "The entry's {field} has the wrong shape (command: a string; args: a list of strings; env and headers: strings by name; url: a string).",
        "es": "El campo {field} de la entrada no tiene la forma correcta (command: un texto; args: una lista de textos; env y headers: textos por nombre; url: un texto).",
    },
    "import_no_transport": {
        "en": "This entry has neither command (stdio) nor url (HTTP), so there is nothing to start or call.",
        "es": "Esta entrada no tiene command (stdio) ni url (HTTP): no hay nada que arrancar ni llamar.",
    },
    "import_disabled": {
        "en": "Skipped: the entry is disabled in the config.",
        "es": "Omitida: la entrada está desactivada en la configuración.",
    },
    "import_no_servers": {
        "en": "The config has no mcpServers object with at least one server.",
        "es": "La configuración no tiene un objeto mcpServers con al menos un servidor.",
    },
    "import_too_many": {
        "en": "The config names more than {most} servers; import it in parts.",
        "es": "La configuración nombra más de {most} servidores; impórtala por partes.",
    },
    # Runbooks and schedules (runbooks/).
    "runbook_unknown_parameter": {
        "en": "This runbook has no parameter {names} (it has: {known}).",
        "es": "Este runbook no tiene el parámetro {names} (tiene: {known}).",
    },
    "runbook_missing_parameter": {
        "en": "Give a value for {names}: it has no default.",
        "es": "Indica un valor para {names}: no tiene valor por defecto.",
    },
    "runbook_not_plain_word": {
        "en": "Parameter {name} is {value}, which is not a plain word; a value put into a step may only hold letters, digits and ._/:=@%+,- (so it can never add a second command).",
        "es": "El parámetro {name} es {value}, que no es una palabra simple; un valor puesto en un paso solo puede contener letras, dígitos y ._/:=@%+,- (así nunca puede añadir un segundo comando).",
    },
    "runbook_undeclared_parameter": {
        "en": "The steps use {names}, which the runbook does not declare in its parameters.",
        "es": "Los pasos usan {names}, que el runbook no declara en sus parámetros.",
    },
    "runbook_other_project": {
        "en": "That belongs to another project; a runbook stays in its own project.",
        "es": "Eso pertenece a otro proyecto; un runbook se queda en su propio proyecto.",
    },
    "runbook_needs_steps": {
        "en": "A runbook needs its steps, or a run to copy them from (from_run_id).",
        "es": "Un runbook necesita sus pasos, o una ejecución de la que copiarlos (from_run_id).",
    },
    "runbook_not_proposed": {
        "en": "Runbook “{name}” could not be proposed: {reason}",
        "es": "No se pudo proponer el runbook “{name}”: {reason}",
    },
    "runbook_not_found_named": {
        "en": "This project has no runbook named “{name}”. Its runbooks: {known}.",
        "es": "Este proyecto no tiene ningún runbook llamado “{name}”. Sus runbooks: {known}.",
    },
    "runbook_run_usage": {
        "en": "Usage: /run NAME key=value …",
        "es": "Uso: /run NOMBRE clave=valor …",
    },
    "runbook_argument_twice": {
        "en": "The parameter {name} is given twice; give it once.",
        "es": "El parámetro {name} aparece dos veces; dalo una sola vez.",
    },
    "runbook_none_in_project": {
        "en": "This project has no runbooks yet: save one from a finished run (“Save as runbook”).",
        "es": "Este proyecto aún no tiene runbooks: guarda uno desde una ejecución terminada («Guardar como runbook»).",
    },
    "runbooks_unavailable": {
        "en": "Runbooks are not available here.",
        "es": "Los runbooks no están disponibles aquí.",
    },
    "schedule_invalid_cron": {
        "en": "“{cron}” is not a five-field cron expression (minute hour day-of-month month day-of-week): {reason}",
        "es": "“{cron}” no es una expresión cron de cinco campos (minuto hora día-del-mes mes día-de-la-semana): {reason}",
    },
    "schedule_invalid_timezone": {
        "en": "“{tz}” is not an IANA time zone (for example Europe/Madrid or UTC).",
        "es": "“{tz}” no es una zona horaria IANA (por ejemplo Europe/Madrid o UTC).",
    },
    "schedule_paused_changed": {
        "en": "Schedule paused: runbook “{name}” changed, so the consent given to its previous plan no longer applies. Review it and approve the schedule again.",
        "es": "Programación en pausa: el runbook “{name}” cambió, así que el consentimiento dado a su plan anterior ya no vale. Revísalo y vuelve a aprobar la programación.",
    },
    "schedule_paused_approvals": {
        "en": "Schedule paused: runbook “{name}” now needs {required} approvals for its risk and the schedule has {count}.",
        "es": "Programación en pausa: el runbook “{name}” ahora necesita {required} aprobaciones por su riesgo y la programación tiene {count}.",
    },
    "schedule_paused_invalid": {
        "en": "Schedule paused: runbook “{name}” cannot run as approved: {reason}",
        "es": "Programación en pausa: el runbook “{name}” no puede ejecutarse tal como se aprobó: {reason}",
    },
    "schedule_fired": {
        "en": "Scheduled run of “{name}” ({cron}, {tz}), approved by {approvers} when the schedule was created. Running the plan…",
        "es": "Ejecución programada de “{name}” ({cron}, {tz}), aprobada por {approvers} al crear la programación. Ejecutando el plan…",
    },
    "schedule_busy": {
        "en": "Scheduled run of “{name}” skipped: another plan is active in this chat. The next one is at its usual time.",
        "es": "Ejecución programada de “{name}” omitida: hay otro plan activo en este chat. La próxima será a su hora habitual.",
    },
    "schedule_created": {
        "en": "{actor} scheduled runbook “{name}” ({cron}, {tz}); approvals {count}/{required}.",
        "es": "{actor} programó el runbook “{name}” ({cron}, {tz}); aprobaciones {count}/{required}.",
    },
    "schedule_approved": {
        "en": "{actor} approved the schedule of “{name}”; approvals {count}/{required}.",
        "es": "{actor} aprobó la programación de “{name}”; aprobaciones {count}/{required}.",
    },
    "schedule_already_approved": {
        "en": "You already approved this schedule; it needs another person.",
        "es": "Ya aprobaste esta programación; necesita a otra persona.",
    },
    # Alerts in (alerts/): the words around an alert posted in its group's chat.
    "alert_firing": {
        "en": "**Alert firing** (from Alertmanager; shown as received):",
        "es": "**Alerta activa** (de Alertmanager; tal como llegó):",
    },
    "alert_resolved": {
        "en": "**Alert resolved** (from Alertmanager; shown as received):",
        "es": "**Alerta resuelta** (de Alertmanager; tal como llegó):",
    },
    "alert_question": {
        "en": "This alert just fired. Investigate what is wrong with read-only steps first, then propose a fix for a person to approve.",
        "es": "Esta alerta acaba de activarse. Investiga qué falla, primero con pasos de solo lectura, y luego propón una solución para que una persona la apruebe.",
    },
}


def t(lang: str | None, key: str, **kwargs: object) -> str:
    """The message ``key`` in ``lang`` (English when unknown), formatted."""
    table = MESSAGES[key]
    template = table.get(lang or "en", table["en"])
    return template.format(**kwargs)
